"""Store layout, camera calibration, catalog, planogram and promotions."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from pydantic import ValidationError

from walkout.catalog import Catalog, Planogram, PlanogramEntry
from walkout.definition import StoreDefinition
from walkout.store import Camera, CameraIntrinsics, Matrix3

# --- cameras ---------------------------------------------------------------------------------


def overhead(yaw_deg: float = 0.0, height_m: float = 3.5) -> Camera:
    return Camera.overhead(
        "cam-1",
        x=5.0,
        y=4.0,
        height_m=height_m,
        resolution=(1280, 720),
        fps=15,
        hfov_deg=90,
        yaw_deg=yaw_deg,
    )


def tilted(yaw_deg: float, tilt_deg: float) -> Camera:
    """A wall-mounted camera: an overhead one tilted about its image x axis."""
    base = overhead(yaw_deg).rotation
    c, s = math.cos(math.radians(tilt_deg)), math.sin(math.radians(tilt_deg))
    tilt = ((1.0, 0.0, 0.0), (0.0, c, -s), (0.0, s, c))
    rotation = tuple(
        tuple(sum(tilt[i][k] * base[k][j] for k in range(3)) for j in range(3)) for i in range(3)
    )
    return Camera(
        camera_id="cam-2",
        resolution=(1280, 720),
        fps=15,
        intrinsics=CameraIntrinsics(fx=700, fy=690, cx=650, cy=350),
        rotation=rotation,
        position_m=(1.0, 2.0, 3.2),
    )


@pytest.mark.parametrize("camera", [overhead(0), overhead(30), overhead(-117.5), tilted(40, 25)])
@pytest.mark.parametrize("z", [0.0, 1.2])
@pytest.mark.parametrize("point", [(5.0, 4.0), (6.3, 3.1), (3.9, 5.2)])
def test_a_floor_point_maps_to_a_pixel_and_back(
    camera: Camera, z: float, point: tuple[float, float]
) -> None:
    # Given a point on a plane at height z (the floor, or a shelf top)
    x, y = point
    # When it is projected into the image and the pixel back onto the same plane
    pixel = camera.floor_to_image(x, y, z)
    assert pixel is not None
    back = camera.image_to_floor(*pixel, z)
    # Then the same point comes back
    assert back is not None
    assert back == pytest.approx(point, abs=1e-9)


def test_an_overhead_camera_at_yaw_zero_shows_east_right_and_north_up() -> None:
    camera = overhead()
    centre = camera.floor_to_image(5.0, 4.0)
    east = camera.floor_to_image(6.0, 4.0)
    north = camera.floor_to_image(5.0, 5.0)
    assert centre == pytest.approx((640.0, 360.0))
    assert east is not None and north is not None
    assert east[0] > 640 and east[1] == pytest.approx(360)
    assert north[1] < 360 and north[0] == pytest.approx(640)


def test_yaw_turns_the_image_about_the_camera() -> None:
    # Given the same camera at yaw 0 and yaw 90
    straight, turned = overhead(0), overhead(90)
    # When a point 1 m east is projected by both
    a = straight.floor_to_image(6.0, 4.0)
    b = turned.floor_to_image(6.0, 4.0)
    # Then it stays at the same distance from the centre, in another direction
    assert a is not None and b is not None
    assert math.dist(a, (640, 360)) == pytest.approx(math.dist(b, (640, 360)))
    assert b != pytest.approx(a)


def test_a_higher_plane_looks_bigger() -> None:
    # A shelf top is closer to the camera than the floor, so the same offset spans more pixels
    camera = overhead()
    on_floor = camera.floor_to_image(6.0, 4.0, 0.0)
    on_shelf = camera.floor_to_image(6.0, 4.0, 1.5)
    assert on_floor is not None and on_shelf is not None
    assert on_shelf[0] - 640 > on_floor[0] - 640


def test_a_point_above_the_camera_has_no_pixel_and_a_horizon_pixel_no_floor_point() -> None:
    camera = overhead()
    assert camera.floor_to_image(5.0, 4.0, 4.0) is None
    assert camera.image_to_floor(640, 360, 4.0) is None


@pytest.mark.parametrize("camera", [overhead(0), overhead(30), tilted(40, 25)])
@pytest.mark.parametrize("z", [0.0, 0.9])
def test_the_homography_agrees_with_image_to_floor(camera: Camera, z: float) -> None:
    # Given the camera's homography for the plane at z
    h = camera.floor_homography(z)
    for u, v in [(0, 0), (640, 360), (1279, 719), (100, 600), (1000, 50)]:
        # When a pixel is mapped by the homography
        hx, hy, hw = (h[i][0] * u + h[i][1] * v + h[i][2] for i in range(3))
        mapped = (hx / hw, hy / hw)
        # Then it lands where the ray does
        expected = camera.image_to_floor(u, v, z)
        assert expected is not None
        assert mapped == pytest.approx(expected, abs=1e-9)


def _camera_with(rotation: Matrix3, z: float = 3.0) -> None:
    Camera(
        camera_id="cam-x",
        resolution=(640, 480),
        fps=10,
        intrinsics=CameraIntrinsics(fx=500, fy=500, cx=320, cy=240),
        rotation=rotation,
        position_m=(1.0, 1.0, z),
    )


def test_a_calibration_that_is_not_a_rotation_is_rejected() -> None:
    with pytest.raises(ValidationError, match="orthonormal"):
        _camera_with(((1.0, 0.0, 0.0), (0.0, 2.0, 0.0), (0.0, 0.0, -1.0)))


def test_a_mirrored_calibration_is_rejected() -> None:
    # A flipped image y axis: orthonormal, but a reflection
    with pytest.raises(ValidationError, match="mirror"):
        _camera_with(((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, -1.0)))


def test_a_camera_on_or_below_the_floor_is_rejected() -> None:
    with pytest.raises(ValidationError, match="position_m"):
        _camera_with(((1.0, 0.0, 0.0), (0.0, -1.0, 0.0), (0.0, 0.0, -1.0)), z=0.0)


# --- the store definition document -----------------------------------------------------------


def lane(lane_id: str, x: float) -> dict[str, Any]:
    return {
        "lane_id": lane_id,
        "level": 1,
        "height_m": 1.2,
        "front_center": {"x": x, "y": 2.0},
        "width_m": 0.3,
        "load_cell": {"cell_id": f"lc-{lane_id}", "hub_id": "hub-1", "rate_hz": 60},
    }


def definition_doc() -> dict[str, Any]:
    return {
        "schema": "walkout.store/1",
        "store": {
            "store_id": "store-042",
            "retailer_id": "acme",
            "name": "Acme Central",
            "currency": "EUR",
            "floor": {"width_m": 10, "depth_m": 8},
            "cameras": [
                overhead(15).model_dump(mode="json"),
            ],
            "shelves": [
                {
                    "shelf_id": "shelf-a1",
                    "aisle": 0,
                    "footprint": {"x0": 1, "y0": 2, "x1": 3, "y1": 2.5},
                    "facing": "south",
                    "lanes": [lane("a1-1", 1.2), lane("a1-2", 1.5), lane("a1-3", 2.6)],
                }
            ],
            "gates": [
                {"gate_id": "in", "kind": "entry", "area": {"x0": 0, "y0": 0, "x1": 1, "y1": 1}},
                {"gate_id": "out", "kind": "exit", "area": {"x0": 9, "y0": 0, "x1": 10, "y1": 1}},
            ],
        },
        "catalog": {
            "currency": "EUR",
            "tax_classes": [
                {"tax_class": "standard", "name": "Standard", "rate_bp": 2000},
                {"tax_class": "food", "name": "Food", "rate_bp": 550},
            ],
            "products": [
                {
                    "sku": "cola-330",
                    "name": "Cola 330 ml",
                    "price_minor": 129,
                    "currency": "EUR",
                    "unit_weight_g": 355.0,
                    "weight_tolerance_g": 6.0,
                    "tax_class": "standard",
                },
                {
                    "sku": "crisps",
                    "name": "Crisps",
                    "price_minor": 99,
                    "currency": "EUR",
                    "unit_weight_g": 45.0,
                    "weight_tolerance_g": 2.0,
                    "tax_class": "food",
                },
            ],
            "promotions": [
                {
                    "kind": "multi_buy",
                    "promotion_id": "cola-3for3",
                    "name": "3 colas for 3.00",
                    "skus": ["cola-330"],
                    "buy_qty": 3,
                    "price_minor": 300,
                },
                {
                    "kind": "bundle",
                    "promotion_id": "snack-deal",
                    "name": "Cola and crisps",
                    "components": [["cola-330"], ["crisps"]],
                    "price_minor": 199,
                },
                {
                    "kind": "percent_off",
                    "promotion_id": "crisps-10",
                    "name": "10 % off crisps",
                    "skus": ["crisps"],
                    "percent_bp": 1000,
                },
            ],
        },
        "planogram": {
            "entries": [
                {"lane_id": "a1-1", "sku": "cola-330", "initial_units": 12},
                {"lane_id": "a1-2", "sku": "crisps"},
            ]
        },
    }


def rejected(doc: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        StoreDefinition.model_validate(doc)
    return str(caught.value)


def test_a_consistent_store_definition_is_accepted_and_round_trips() -> None:
    # Given a valid store.json
    definition = StoreDefinition.model_validate(definition_doc())
    # When it is written and read back
    again = StoreDefinition.model_validate_json(definition.to_json())
    # Then nothing is lost
    assert again == definition
    assert definition.planogram.sku_by_lane() == {"a1-1": "cola-330", "a1-2": "crisps"}
    assert definition.catalog.tax_rates() == {"standard": 2000, "food": 550}


def test_neighbour_lanes_are_the_near_ones_nearest_first() -> None:
    store = StoreDefinition.model_validate(definition_doc()).store
    assert store.neighbour_lanes("a1-2", max_distance_m=0.5) == ["a1-1"]
    assert store.neighbour_lanes("a1-2", max_distance_m=2.0) == ["a1-1", "a1-3"]


def test_a_planogram_listing_a_lane_twice_is_rejected() -> None:
    with pytest.raises(ValidationError, match="lanes listed twice: a1-1"):
        Planogram(
            entries=[
                PlanogramEntry(lane_id="a1-1", sku="cola-330"),
                PlanogramEntry(lane_id="a1-1", sku="crisps"),
            ]
        )


def test_a_planogram_lane_missing_from_the_layout_is_rejected() -> None:
    doc = definition_doc()
    doc["planogram"]["entries"].append({"lane_id": "b9-9", "sku": "crisps"})
    assert "planogram: lane b9-9 is not in the store layout" in rejected(doc)


def test_a_planogram_sku_missing_from_the_catalog_is_rejected() -> None:
    doc = definition_doc()
    doc["planogram"]["entries"][1]["sku"] = "caviar"
    assert "planogram: sku caviar (lane a1-2) is not in the catalog" in rejected(doc)


def test_a_negative_price_is_rejected_naming_price_minor() -> None:
    doc = definition_doc()
    doc["catalog"]["products"][0]["price_minor"] = -129
    message = rejected(doc)
    assert "catalog.products.0.price_minor" in message
    assert "greater than or equal to 0" in message


@pytest.mark.parametrize(
    ("promotion", "change"),
    [(0, {"skus": ["cola-330", "ghost"]}), (1, {"components": [["cola-330"], ["ghost"]]})],
)
def test_a_promotion_naming_an_unknown_sku_is_rejected(
    promotion: int, change: dict[str, Any]
) -> None:
    doc = definition_doc()
    doc["catalog"]["promotions"][promotion].update(change)
    assert "unknown skus ghost" in rejected(doc)


@pytest.mark.parametrize(
    ("where", "change", "expected"),
    [
        (
            lambda d: d["store"]["shelves"][0]["lanes"],
            lambda lanes: lanes.append(lane("a1-1", 2.9)),
            "lane ids repeat",
        ),
        (
            lambda d: d["store"]["gates"],
            lambda gates: gates.pop(),
            "a store needs at least one exit gate",
        ),
        (
            lambda d: d["catalog"]["tax_classes"],
            lambda classes: classes.append(dict(classes[0], rate_bp=700)),
            "tax classes repeat: standard",
        ),
        (
            lambda d: d["catalog"]["promotions"],
            lambda promos: promos.append(copy.deepcopy(promos[2])),
            "promotion ids repeat: crisps-10",
        ),
        (
            lambda d: d["catalog"]["products"][1],
            lambda product: product.update(tax_class="luxury"),
            "product crisps: unknown tax_class 'luxury'",
        ),
        (
            lambda d: d["catalog"]["products"][1],
            lambda product: product.update(weight_tolerance_g=45.0),
            "weight_tolerance_g must be smaller than unit_weight_g",
        ),
        (
            lambda d: d["catalog"]["products"],
            lambda products: products.append(copy.deepcopy(products[0])),
            "skus repeat: cola-330",
        ),
        (
            lambda d: d["catalog"],
            lambda catalog: (
                [p.update(currency="GBP") for p in catalog["products"]]
                and catalog.update(currency="GBP")
            ),
            "catalog currency GBP differs from the store's EUR",
        ),
        (
            lambda d: d["catalog"]["promotions"][2],
            lambda promo: promo.update(percent_bp=0),
            "percent_bp",
        ),
        (lambda d: d["store"], lambda store: store.update(wifi="yes"), "store.wifi"),
    ],
)
def test_an_inconsistent_store_definition_is_rejected(
    where: Any, change: Any, expected: str
) -> None:
    doc = definition_doc()
    change(where(doc))
    assert expected in rejected(doc)


def test_catalog_lookups() -> None:
    catalog = Catalog.model_validate(definition_doc()["catalog"])
    assert catalog.by_sku()["crisps"].price_minor == 99
