"""The intake API answers as its OpenAPI schema says: schemathesis, with every check, on a
bounded number of generated requests per operation.

schemathesis.pytest's parametrize() renames pytest's test nodes through Node._nodeid, which
pytest 9 no longer has; each operation's Hypothesis strategy runs under our own test instead.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

pytestmark = pytest.mark.django_db

# Each operation and who calls it: a source with its key, the business's systems with a token.
OPERATIONS = {
    "leads_create": "source",
    "leads_batch_create": "source",
    "feedback_export": "source",
    "feedback_files_list": "source",
    "feedback_file": "source",
    "feedback_file_download": "source",
    "conversions_create": "token",
    "returns_create": "token",
}
NO_INPUT = {"feedback_files_list"}
MAX_EXAMPLES = 40  # per operation and mode: a bounded run for CI
BOUNDED = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,  # the same cases every run, so a known mismatch fails every time
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def connection_kept_open():
    """Keep the test's transaction across requests, as Django's test client does."""
    # The WSGI handler closes the database connection when a request ends; in a test that is
    # the connection holding the test's transaction (on PostgreSQL: "the connection is closed").
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(request, source, settings, connection_kept_open):
    from crm.wsgi import application
    from leads.feedback.tokens import api_token_create
    from tests.factories import LeadFactory, ManagerFactory

    params = getattr(request.node, "callspec", None)
    caller = OPERATIONS.get(params.params.get("operation_id") if params else "", "source")
    if caller == "token":
        LeadFactory(source=source)  # a lead for generated ids to find, now and then
        token = api_token_create(user=ManagerFactory())[1]
        authorization = f"Token {token}"
    else:
        authorization = f"Bearer {source.api_key}"

    settings.ALLOWED_HOSTS = ["localhost"]  # schemathesis' WSGI client sends Host: localhost
    config = schemathesis.Config.from_dict(
        {
            "headers": {"Authorization": authorization},
            "checks": {
                "enabled": True,  # --checks all
                # A schema cannot say which phone numbers, ZIPs and states are real, so a
                # schema-valid lead may still be refused by intake's rules, as documented (and
                # a generated lead id is mostly not a lead: a 422 naming "lead"). Nor which
                # file ids are the source's own: another's, or none, is a 404.
                "positive_data_acceptance": {"expected-statuses": ["2XX", "404", "409", "422"]},
            },
        }
    )
    return schemathesis.openapi.from_wsgi("/api/v1/schema/", application, config=config)


def operation_by_id(schema, operation_id: str):
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.definition.raw.get("operationId") == operation_id:
            return operation
    raise LookupError(operation_id)


def run_cases(operation, mode, **validation):
    @BOUNDED
    @given(case=operation.as_strategy(generation_mode=mode))
    def answers_as_documented(case):
        case.call_and_validate(**validation)

    answers_as_documented()


def test_every_operation_is_fuzzed(api_schema):
    documented = {
        result.ok().definition.raw.get("operationId") for result in api_schema.get_all_operations()
    }

    assert documented == set(OPERATIONS)


@pytest.mark.parametrize("mode", list(GenerationMode), ids=str)
@pytest.mark.parametrize("operation_id", OPERATIONS)
def test_the_api_answers_as_its_schema_says(api_schema, operation_id, mode):
    if operation_id in NO_INPUT and mode == GenerationMode.NEGATIVE:
        pytest.skip("it takes no input that could be made invalid")
    run_cases(operation_by_id(api_schema, operation_id), mode)
