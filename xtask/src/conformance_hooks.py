"""Rhythm's conformance hooks for schemathesis (loaded through SCHEMATHESIS_HOOKS).

A schema states what a well-formed request is, not what the server's data holds. A few of
Rhythm's refusals of well-formed requests depend on that data, and the run's configuration
lets `positive_data_acceptance` accept them on the operations where they can happen (400
where a listing takes a cursor, 412 where a write takes `If-Match`, 422 where a body names
other resources). This check makes
sure such an answer is exactly that refusal and nothing else, so loosening the statuses
hides no other finding.

The allowed refusals come from the file named by RHYTHM_STATE_DEPENDENT, written by
`cargo xtask conformance`:
{"fields": {"<METHOD> <path>": ["field", ...]}}.
"""

import json
import os

import schemathesis

with open(os.environ["RHYTHM_STATE_DEPENDENT"], encoding="utf-8") as f:
    _FIELDS = {op: set(fields) for op, fields in json.load(f)["fields"].items()}


def _problem(response):
    try:
        body = response.json()
    except Exception:  # noqa: BLE001 - any undecodable body is simply no problem document
        return {}
    return body if isinstance(body, dict) else {}


@schemathesis.check
def refusals_depend_only_on_state(ctx, response, case):
    """A 400, 412 or 422 to schema-valid data is an unissued cursor, a stale If-Match, or a
    reference to nothing (or a rule across fields)."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    if response.status_code not in (400, 412, 422):
        return None
    problem = _problem(response)
    code = problem.get("code")
    operation = f"{case.method.upper()} {case.path}"
    if response.status_code == 412:
        headers = {k.lower() for k in (case.headers or {})}
        if code == "version_mismatch" and "if-match" in headers:
            return None
        raise AssertionError(f"{operation} answered 412 {code} without a stale If-Match")
    if response.status_code == 400:
        if code == "invalid_cursor" and (case.query or {}).get("cursor") is not None:
            return None
        raise AssertionError(
            f"{operation} refused schema-valid data with 400 {code}: only a cursor the "
            f"server did not issue may be refused so\n{problem.get('detail')}"
        )
    allowed = _FIELDS.get(operation, set())
    fields = {e.get("field") for e in problem.get("errors", [])}
    if code == "validation_failed" and fields and fields <= allowed:
        return None
    raise AssertionError(
        f"{operation} refused schema-valid data with 422 on {sorted(map(str, fields))}: only "
        f"{sorted(allowed)} (references to what may not exist, rules across fields) may be"
        f"\n{problem.get('detail')}"
    )
