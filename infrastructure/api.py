"""The HTTP API (issue 8): Cognito user pool, API Gateway HTTP API with a JWT authorizer, and
the API function.

- User pool: staff (groups `retailer-admins`, `reviewers`) and shoppers in one pool; the
  tenant is the immutable custom attribute `retailer_id`, a shopper's visible sessions the
  custom attribute `session_ids` (both read by `walkout.api.auth`). Staff and shoppers sign
  in through two app clients; the authorizer accepts tokens of either (`aud`), and the
  function decides per route what each role may do.
- HTTP API: every route behind the JWT authorizer except the Swagger UI (`GET /docs`, a
  static page of the public contract); access logs to the API's own log group.
- Function (least privilege, one statement per concern):
  - stores table: read and write (`GetItem`, `Query`, `PutItem` through
    `TransactWriteItems`);
  - sessions table: reads (live carts, sessions by status, attribution records, review
    tasks) and writes **only to review-task items** (`dynamodb:LeadingKeys` REVIEW#*: the
    claim and the answer of a console task);
  - receipts table: reads (receipts, versions, disputes, by-store-time), `PutItem` and
    `ConditionCheckItem` (disputes, and an accepted dispute's adjustment version, both in
    one `TransactWriteItems`); no update or delete: versions are only appended;
  - ingest table: `Query` only (quarantined records, counted for store metrics);
  - the data key through DynamoDB (tables) and S3 (reading evidence) only;
  - `states:SendTaskSuccess` / `SendTaskHeartbeat` (console answers; Step Functions has no
    resource-level permission for task tokens), `events:PutEvents` on the event bus
    (`RefundIssued`), `s3:GetObject` on `stores/*/evidence/*` of the evidence bucket (the
    review console's presigned URLs are signed with this role).

The lead wires this construct into the stack.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infrastructure.functions import (
    FUNCTIONS_DIR,
    RETENTION,
    TABLE_KEY_READ,
    TABLE_KEY_WRITE,
    WalkoutFunction,
)
from walkout.api.app import SWAGGER_PATH
from walkout.api.auth import ADMIN_GROUP, REVIEWER_GROUP
from walkout.api.pages import PAGES_PATH
from walkout.api.settings import API_SERVICE, ApiSettings
from walkout.config import DeploymentConfig

# The stores table calls `walkout.data.catalog_admin` makes (TransactWriteItems is
# authorised as the PutItem of each of its items).
STORES_ACTIONS = ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem")
# The sessions table's reads: live carts, sessions by status (index), attribution records
# and session METAs by key (BatchGetItem), review tasks (GetItem, index).
SESSIONS_ACTIONS = ("dynamodb:Query", "dynamodb:GetItem", "dynamodb:BatchGetItem")
# Console review tasks: claim (UpdateItem), answer (UpdateItem + PutItem in a transaction).
REVIEW_TASK_WRITES = ("dynamodb:UpdateItem", "dynamodb:PutItem")
REVIEW_TASK_KEYS = ("REVIEW#*",)
# Receipts and disputes: reads, and the two item kinds an accepted dispute's transaction
# uses (Put of the dispute and the version, ConditionCheck of the previous version).
RECEIPTS_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:ConditionCheckItem",
)
INGEST_ACTIONS = ("dynamodb:Query",)
TOKEN_ACTIONS = ("states:SendTaskSuccess", "states:SendTaskHeartbeat")
EVIDENCE_OBJECTS = "stores/*/evidence/*"
# No caller IP address: for shoppers it is personal data, and the request id is enough to
# find a request in the function's own logs.
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "integrationError": "$context.integrationErrorMessage",
    "authorizerError": "$context.authorizer.error",
}


_CLIENT_WRITES = cognito.ClientAttributes().with_standard_attributes(email=True)


class HttpApi(Construct):
    """`user_pool`, `staff_client`, `shopper_client`, `api`, `function`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        stores_table: dynamodb.ITable,
        sessions_table: dynamodb.ITable,
        receipts_table: dynamodb.ITable,
        ingest_table: dynamodb.ITable,
        event_bus: events.IEventBus,
        evidence_bucket: s3.IBucket,
        data_key: kms.IKey,
        layers: Sequence[lambda_.ILayerVersion],
    ) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY

        self.user_pool = cognito.UserPool(
            self,
            "Users",
            user_pool_name=f"{config.prefix}-users",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_digits=True,
                require_lowercase=True,
                require_uppercase=True,
                require_symbols=True,
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            custom_attributes={
                "retailer_id": cognito.StringAttribute(min_len=1, max_len=64, mutable=False),
                "session_ids": cognito.StringAttribute(max_len=2048, mutable=True),
            },
            removal_policy=removal,
        )
        for group_id, group in (("Admins", ADMIN_GROUP), ("Reviewers", REVIEWER_GROUP)):
            cognito.CfnUserPoolGroup(
                self,
                group_id,
                user_pool_id=self.user_pool.user_pool_id,
                group_name=group,
                description=f"Walkout {config.stage}: {group}",
            )
        self.staff_client = self.user_pool.add_client(
            "StaffClient",
            user_pool_client_name=f"{config.prefix}-staff",
            auth_flows=cognito.AuthFlow(user_srp=True),
            generate_secret=False,
            id_token_validity=Duration.hours(1),
            access_token_validity=Duration.hours(1),
            prevent_user_existence_errors=True,
            # The tenancy claims (custom:retailer_id, custom:session_ids) are written by the
            # back office only: a client may change the e-mail address, nothing custom.
            write_attributes=_CLIENT_WRITES,
        )
        self.shopper_client = self.user_pool.add_client(
            "ShopperClient",
            user_pool_client_name=f"{config.prefix}-shoppers",
            auth_flows=cognito.AuthFlow(user_srp=True),
            generate_secret=False,
            id_token_validity=Duration.hours(1),
            access_token_validity=Duration.hours(1),
            prevent_user_existence_errors=True,
            # The tenancy claims (custom:retailer_id, custom:session_ids) are written by the
            # back office only: a client may change the e-mail address, nothing custom.
            write_attributes=_CLIENT_WRITES,
        )

        self.function = WalkoutFunction(
            self,
            "Function",
            config=config,
            name=API_SERVICE,
            description="Walkout HTTP API: stores, catalog, live carts, receipts, review, metrics",
            code_dir=FUNCTIONS_DIR / "api",
            handler="handler.lambda_handler",
            layers=layers,
            environment=ApiSettings.environment(
                config,
                stores_table=stores_table.table_name,
                sessions_table=sessions_table.table_name,
                receipts_table=receipts_table.table_name,
                ingest_table=ingest_table.table_name,
                event_bus_name=event_bus.event_bus_name,
                evidence_bucket=evidence_bucket.bucket_name,
            ),
        )
        self._permissions(
            stores_table=stores_table,
            sessions_table=sessions_table,
            receipts_table=receipts_table,
            ingest_table=ingest_table,
            event_bus=event_bus,
            evidence_bucket=evidence_bucket,
        )
        self.function.allow_key_via("StoresTableKey", data_key, "dynamodb", TABLE_KEY_WRITE)
        self.function.allow_key_via("EvidenceKey", data_key, "s3", TABLE_KEY_READ)
        self.function.suppress_wildcards(
            "kms:GenerateDataKey* is the family DynamoDB uses to encrypt the table's items;"
            " the tables' indexes (index/*) are read by key condition; review-task items are"
            " written under the REVIEW# leading key only; Step Functions' task-token calls have"
            " no resource-level permissions (Resource::*); evidence objects are read under"
            " stores/*/evidence/* only, to presign them for reviewers",
            [
                "Action::kms:GenerateDataKey*",
                {"regex": "/^Resource::.*\\/index\\/\\*$/g"},
                {"regex": "/^Resource::.*\\/stores\\/\\*\\/evidence\\/\\*$/g"},
            ],
        )

        region = Stack.of(self).region
        issuer = f"https://cognito-idp.{region}.amazonaws.com/{self.user_pool.user_pool_id}"
        authorizer = authorizers.HttpJwtAuthorizer(
            "Cognito",
            issuer,
            jwt_audience=[
                self.staff_client.user_pool_client_id,
                self.shopper_client.user_pool_client_id,
            ],
        )
        integration = integrations.HttpLambdaIntegration("Api", self.function.function)
        self.api = apigw.HttpApi(
            self,
            "Api",
            api_name=f"{config.prefix}-api",
            create_default_stage=False,
            default_authorizer=authorizer,
        )
        self.api.add_routes(
            path="/{proxy+}", methods=[apigw.HttpMethod.ANY], integration=integration
        )
        self.api.add_routes(
            path=SWAGGER_PATH,
            methods=[apigw.HttpMethod.GET],
            integration=integration,
            authorizer=apigw.HttpNoneAuthorizer(),
        )
        # The pages (review console, live cart) are static; they call the API with a token.
        self.api.add_routes(
            path=f"{PAGES_PATH}/{{proxy+}}",
            methods=[apigw.HttpMethod.GET],
            integration=integration,
            authorizer=apigw.HttpNoneAuthorizer(),
        )
        access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=RETENTION[config.log_retention_days],
            removal_policy=removal,
        )
        stage = apigw.HttpStage(
            self,
            "Stage",
            http_api=self.api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigw.ThrottleSettings(rate_limit=100, burst_limit=200),
        )
        cfn_stage = stage.node.default_child
        assert isinstance(cfn_stage, apigw.CfnStage)
        cfn_stage.access_log_settings = apigw.CfnStage.AccessLogSettingsProperty(
            destination_arn=access_logs.log_group_arn,
            format=json.dumps(ACCESS_LOG_FORMAT),
        )
        self._suppressions()
        CfnOutput(self, "Url", value=self.api.api_endpoint)
        CfnOutput(self, "UserPoolId", value=self.user_pool.user_pool_id)

    def _permissions(
        self,
        *,
        stores_table: dynamodb.ITable,
        sessions_table: dynamodb.ITable,
        receipts_table: dynamodb.ITable,
        ingest_table: dynamodb.ITable,
        event_bus: events.IEventBus,
        evidence_bucket: s3.IBucket,
    ) -> None:
        fn = self.function
        fn.allow_table("StoresTable", stores_table, STORES_ACTIONS)
        fn.allow_table("ReadSessions", sessions_table, SESSIONS_ACTIONS, with_indexes=True)
        fn.allow(
            "WriteReviewTasksOnly",
            REVIEW_TASK_WRITES,
            [sessions_table.table_arn],
            conditions={
                "ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(REVIEW_TASK_KEYS)}
            },
        )
        fn.allow_table("ReceiptsAndDisputes", receipts_table, RECEIPTS_ACTIONS, with_indexes=True)
        fn.allow_table("CountQuarantined", ingest_table, INGEST_ACTIONS)
        fn.allow("AnswerReviewWorkflows", TOKEN_ACTIONS, ["*"])
        fn.allow("PublishRefunds", ["events:PutEvents"], [event_bus.event_bus_arn])
        fn.allow(
            "PresignEvidence", ["s3:GetObject"], [evidence_bucket.arn_for_objects(EVIDENCE_OBJECTS)]
        )

    def _suppressions(self) -> None:
        NagSuppressions.add_resource_suppressions(
            self.user_pool,
            [
                NagPackSuppression(
                    id="AwsSolutions-COG2",
                    reason="Shoppers sign in at a store gate on a phone; MFA is offered "
                    "(OTP) and left to each retailer's policy rather than forced on shoppers.",
                ),
                *(
                    NagPackSuppression(
                        id=rule,
                        reason="Threat protection (the Plus feature plan) is a per-deployment "
                        "cost choice; sign-up is closed and users are created by retailers.",
                    )
                    for rule in ("AwsSolutions-COG3", "AwsSolutions-COG8")
                ),
            ],
        )
        NagSuppressions.add_resource_suppressions(
            self.api,
            [
                NagPackSuppression(
                    id="AwsSolutions-APIG4",
                    reason=f"Only GET {SWAGGER_PATH} (the public API description) and GET "
                    f"{PAGES_PATH}/* (static pages, no data) are unauthenticated; every other "
                    "route uses the Cognito JWT authorizer.",
                ),
            ],
            apply_to_children=True,
        )
