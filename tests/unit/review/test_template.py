"""The worker template, rendered with python-liquid as Ground Truth renders it (Liquid, with
`task.input` = the pre-annotation's taskInput and a `grant_read_access` filter)."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any

import pytest
from liquid import Environment
from review_builders import EVIDENCE, LOOKS, PERSON_LOOK, sample_task

from walkout.review.groundtruth import (
    ANSWERS_FIELD,
    PreAnnotationRequest,
    data_object,
    pre_annotation,
)
from walkout.review.template import template_key, template_sha256, template_text

SIGNED = "https://evidence.s3.eu-west-1.amazonaws.com/{key}?X-Amz-Signature=test"


def grant_read_access(uri: str) -> str:
    """Ground Truth's filter: an S3 URI to a short-lived presigned URL."""
    assert uri.startswith("s3://"), uri
    return SIGNED.format(key=uri.split("/", 3)[3])


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all(self, tag: str, **match: str) -> list[dict[str, str | None]]:
        return [
            a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in match.items())
        ]


@pytest.fixture(scope="module")
def task_input() -> dict[str, Any]:
    request = PreAnnotationRequest.model_validate(
        {
            "version": "2018-10-16",
            "labelingJobArn": "arn:aws:sagemaker:eu-west-1:123456789012:labeling-job/j",
            "dataObject": data_object(sample_task(), "token"),
        }
    )
    task_input: dict[str, Any] = pre_annotation(request)["taskInput"]
    return task_input


@pytest.fixture(scope="module")
def page(task_input: dict[str, Any]) -> Page:
    env = Environment()
    env.filters["grant_read_access"] = grant_read_access
    html = env.from_string(template_text()).render(task={"input": task_input})
    parsed = Page()
    parsed.feed(html)
    parsed.close()
    parsed.html = html  # type: ignore[attr-defined]
    return parsed


def test_the_template_uses_crowd_html_elements(page: Page) -> None:
    assert page.all("script", src="https://assets.crowd.aws/crowd-html-elements.js")
    assert page.all("crowd-form")
    assert page.all("crowd-instructions")
    assert page.all("input", name=ANSWERS_FIELD, type="hidden")


def test_every_evidence_image_is_shown_through_grant_read_access(page: Page) -> None:
    sources = [img["src"] for img in page.all("img")]

    for uri in EVIDENCE:
        assert SIGNED.format(key=uri.split("/", 3)[3]) in sources
    assert not any(src and src.startswith("s3://") for src in sources)


def test_a_shoppers_looks_at_the_entry_are_shown_through_grant_read_access(page: Page) -> None:
    looks = [
        img
        for img in page.all("img", **{"class": "walkout-look"})
        if "Shopper" in (img["alt"] or "")
    ]

    assert [img["src"] for img in looks] == [SIGNED.format(key=u.split("/", 3)[3]) for u in LOOKS]
    assert looks[0]["alt"] == "Shopper B at the entry, person 1"


def test_people_present_are_choices_by_number_with_their_looks(page: Page) -> None:
    # E1: persons 1 and 2 were in the store then; E2: person 1 only
    for event_id, present in (("E1", ["1", "2"]), ("E2", ["1"])):
        radios = page.all("input", type="radio", name=f"{event_id}-shopper")
        assert [r["value"] for r in radios][-len(present) :] == present
    person_looks = page.all("img", alt="Person 1 at the entry, 1")
    assert [img["src"] for img in person_looks] == [
        SIGNED.format(key=PERSON_LOOK.split("/", 3)[3])
    ] * 2  # shown under both moments
    assert "Somebody else in the store (2 people then)" in " ".join(page.text)


def test_every_candidate_shopper_is_a_choice_with_its_letter_and_colour(page: Page) -> None:
    for question in sample_task().questions:
        radios = page.all("input", type="radio", name=f"{question.event_id}-shopper")
        letters = [s.label for s in question.shoppers]
        assert [r["value"] for r in radios] == [*letters, "none", *question.present]
        for shopper in question.shoppers:
            assert f"background: {shopper.colour_hex}" in page.html  # type: ignore[attr-defined]
            assert f"Shopper {shopper.label} ({shopper.colour}" in " ".join(page.text)
    assert "at the shelf, left" in " ".join(page.text)


def test_every_candidate_product_is_a_choice_with_its_name_and_picture(page: Page) -> None:
    text = " ".join(page.text)
    for question in sample_task().questions:
        radios = page.all("input", type="radio", name=f"{question.event_id}-sku")
        assert [r["value"] for r in radios] == [p.sku for p in question.products] + ["none"]
        for product in question.products:
            assert product.name in text
            if product.image_url:
                assert page.all("img", src=product.image_url, alt=product.name)


def test_each_event_asks_its_question_and_how_many(page: Page) -> None:
    text = " ".join(page.text)
    for question in sample_task().questions:
        assert question.prompt in text
        [qty] = page.all("input", type="number", name=f"{question.event_id}-qty")
        assert qty["max"] == str(question.max_qty)
    assert "No pictures were recorded for this moment" in text  # E2 has none


def test_names_are_escaped(page: Page) -> None:
    assert "Candy &lt;Sour&gt;" in page.html  # type: ignore[attr-defined]
    assert "Chips &amp; Dip" in page.html  # type: ignore[attr-defined]


def test_no_session_id_or_token_reaches_the_page(page: Page, task_input: dict[str, Any]) -> None:
    html: str = page.html  # type: ignore[attr-defined]
    assert "s-1" not in html and "s-2" not in html and "token" not in json.dumps(task_input)
    assert "s-3" not in html and "s-4" not in html


def test_the_template_key_is_content_addressed() -> None:
    assert template_key(template_sha256()) == template_key(template_sha256(template_text()))
    assert template_key(template_sha256("other")) != template_key(template_sha256())


def test_each_event_may_name_a_second_taker_among_its_candidates_and_people_present(
    page: Page,
) -> None:
    html: str = page.html  # type: ignore[attr-defined]
    for question in sample_task().questions:
        name = f"{question.event_id}-also-shopper"
        start = html.index(f'<select name="{name}"')
        options = Page()
        options.feed(html[start : html.index("</select>", start)])
        letters = [s.label for s in question.shoppers]
        assert [o["value"] for o in options.all("option")] == ["none", *letters, *question.present]
        [qty] = page.all("input", type="number", name=f"{question.event_id}-also-qty")
        assert (qty["value"], qty["max"]) == ("0", str(question.max_qty))
    # and the form's script sends them with the answer
    assert "also: also" in html
