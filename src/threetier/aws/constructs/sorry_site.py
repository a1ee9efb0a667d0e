"""The sorry page (seed 001): a private S3 bucket behind CloudFront with origin access
control and a us-east-1 certificate, answering as the SECONDARY of the domain's failover
pair. The page is `threetier.paths.SORRY_PAGE`, the same file the local twin serves.

Every path answers the page with 503, as the twin's load balancer does: a visitor who had
`/users/` open sees the page, and a crawler or monitor sees "unavailable", never a 200
that would get the sorry page indexed or counted as up. Two CloudFront Functions do it:
on viewer request every URI becomes the page's key (so `/` no longer needs
`default_root_object`, which answered 200), and on viewer response the status becomes 503
with `Retry-After`. The custom error responses stay as the fallback for S3's own errors.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, Stack
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as targets
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from threetier.aws.constructs.buckets import private_bucket
from threetier.aws.constructs.dns import failover_record
from threetier.aws.nag import asset_bucket_objects, cdk_provider, logical_id, suppress

PAGE_KEY = "sorry.html"
# Browsers revalidate every time (seed 001: a cached sorry page outlived the recovery);
# CloudFront may keep it a minute.
PAGE_CACHE_CONTROL = "max-age=0, s-maxage=60, must-revalidate"
SORRY_STATUS = 503
RETRY_AFTER_SECONDS = 60
# cloudfront-js-2.0: every request asks the origin for the page, whatever its path.
REQUEST_FUNCTION = f"""
function handler(event) {{
    var request = event.request;
    request.uri = '/{PAGE_KEY}';
    request.querystring = {{}};
    return request;
}}
"""
# ... and every response, fresh from S3 or from the edge cache, says 503.
RESPONSE_FUNCTION = f"""
function handler(event) {{
    var response = event.response;
    response.statusCode = {SORRY_STATUS};
    response.statusDescription = 'Service Unavailable';
    response.headers['retry-after'] = {{ value: '{RETRY_AFTER_SECONDS}' }};
    return response;
}}
"""


class SorrySite(Construct):
    """`bucket`, `distribution` (with `request_function` and `response_function`),
    `certificate` and the SECONDARY `record`.

    Lives in the us-east-1 stack: CloudFront takes certificates only from there.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        zone: route53.IHostedZone,
        domain: str,
        page: Path,
        retain_data: bool,
        serve_domain: bool = True,
    ) -> None:
        """`serve_domain` False (CloudFront in front of the ALB, threetier.aws.constructs.cdn):
        no certificate, alternate name or record; the app's distribution asks this one as the
        secondary of its origin group, by its own cloudfront.net name."""
        super().__init__(scope, construct_id)
        self.bucket = private_bucket(
            self,
            "Bucket",
            retain_data=retain_data,
            no_access_logs_because="The bucket holds one public page served through CloudFront; its "
            "reads are CloudFront's, and a second bucket for access logs would cost more than it tells.",
        )
        self.certificate: acm.Certificate | None = None
        if serve_domain:
            self.certificate = acm.Certificate(
                self,
                "Certificate",
                domain_name=domain,
                validation=acm.CertificateValidation.from_dns(zone),
            )
        # Should S3 answer an error itself (the page missing): still the page, with 503.
        errors = [
            cloudfront.ErrorResponse(
                http_status=status,
                response_http_status=SORRY_STATUS,
                response_page_path=f"/{PAGE_KEY}",
                ttl=Duration.seconds(10),
            )
            for status in (403, 404)
        ]
        self.request_function = cloudfront.Function(
            self,
            "EveryPathIsThePage",
            code=cloudfront.FunctionCode.from_inline(REQUEST_FUNCTION),
            runtime=cloudfront.FunctionRuntime.JS_2_0,
            comment="every path asks for the sorry page",
        )
        self.response_function = cloudfront.Function(
            self,
            "AnswerUnavailable",
            code=cloudfront.FunctionCode.from_inline(RESPONSE_FUNCTION),
            runtime=cloudfront.FunctionRuntime.JS_2_0,
            comment=f"the sorry page answers {SORRY_STATUS}",
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment=f"sorry page for {domain}",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                function_associations=[
                    cloudfront.FunctionAssociation(
                        event_type=cloudfront.FunctionEventType.VIEWER_REQUEST,
                        function=self.request_function,
                    ),
                    cloudfront.FunctionAssociation(
                        event_type=cloudfront.FunctionEventType.VIEWER_RESPONSE,
                        function=self.response_function,
                    ),
                ],
            ),
            domain_names=[domain] if serve_domain else None,
            certificate=self.certificate,
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
            error_responses=errors,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
        )
        self.deployment = s3deploy.BucketDeployment(
            self,
            "Page",
            sources=[s3deploy.Source.data(PAGE_KEY, page.read_text(encoding="utf-8"))],
            destination_bucket=self.bucket,
            content_type="text/html; charset=utf-8",
            cache_control=[s3deploy.CacheControl.from_string(PAGE_CACHE_CONTROL)],
        )
        self.record: route53.CfnRecordSet | None = None
        if serve_domain:
            self.record = failover_record(
                self,
                "Secondary",
                zone=zone,
                domain=domain,
                failover="SECONDARY",
                target="sorry",
                target_dns_name=self.distribution.distribution_domain_name,
                target_zone_id=targets.CloudFrontTarget.get_hosted_zone_id(self),
                evaluate_target_health=False,
            )

        suppress(
            self.distribution,
            "AwsSolutions-CFR1",
            "The sorry page must reach every visitor the site serves: no geo restriction.",
        )
        suppress(
            self.distribution,
            "AwsSolutions-CFR2",
            "A static page from a private bucket: WAF would protect nothing that can change.",
        )
        suppress(
            self.distribution,
            "AwsSolutions-CFR3",
            "Only shown while the ALB is down; the Route 53 health check records when that happens.",
        )
        self._excuse_deployment_provider()

    def _excuse_deployment_provider(self) -> None:
        """The CDK-managed Lambda that copies the page into the bucket at deploy time."""
        stack = Stack.of(self)
        provider = cdk_provider(stack, "Custom::CDKBucketDeployment")
        if provider is None:
            return
        suppress(
            provider,
            "AwsSolutions-L1",
            "CDK's BucketDeployment provider: its runtime is chosen by aws-cdk-lib and moves "
            "with its upgrades.",
        )
        suppress(
            provider,
            "AwsSolutions-IAM4",
            "CDK's BucketDeployment provider logs through AWSLambdaBasicExecutionRole (logs only).",
            applies_to=[
                "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
            ],
        )
        suppress(
            provider,
            "AwsSolutions-IAM5",
            "CDK's BucketDeployment grants: read the page's asset, write objects into the "
            "sorry bucket only.",
            applies_to=[
                "Action::s3:GetObject*",
                "Action::s3:GetBucket*",
                "Action::s3:List*",
                "Action::s3:DeleteObject*",
                "Action::s3:Abort*",
                asset_bucket_objects(stack),
                f"Resource::<{logical_id(self.bucket)}.Arn>/*",
            ],
        )
