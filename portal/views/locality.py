"""The locality rules editor: the rules in force, the draft (one country's rule at a time), putting it in
force now or at a later moment, the scheduled changes, the history with restore, the live preview and
the dry run. One mode at a time (the header's test/live switch). Reading needs payments:read, every
change settings:write (portal/views/blueprint.py); every change is audited by core/locality/versions.py.

Works as plain pages (forms post and redirect); with htmx the preview follows the inputs, the dry run
loads in place and a saved rule swaps the editor only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from core import money
from core.errors import InvalidInput, KassaError
from core.geo import validate_country
from core.locality import service as locality
from core.locality import versions
from core.locality.models import ALL_COUNTRIES, LocalityRuleVersion
from core.web.htmx import is_htmx, render_page_or_block
from core.web.request import runtime, uow
from core.workspace import locality as dry_runs
from portal import mode
from portal.views.forms import ActionForm
from portal.views.locality_forms import PreviewForm, PublishForm, RuleForm
from portal.views.session import user_context
from tenants import checkout_settings
from tenants.lookup import actor_names, tenant_by_id
from tenants.models import Tenant

HISTORY_SHOWN = 25
#: Which form field shows an error about which rule field.
FIELD_OF_PARAM = {
    "country": "country",
    "methods": "methods",
    "amount_limits": "max_amount",
    "amount_limits.min": "min_amount",
    "amount_limits.max": "max_amount",
    "method_limits": "wallet_max",
    "method_limits.max": "wallet_max",
    "required_fields": "required_fields",
    "surcharge_bps": "surcharge",
    "three_ds": "three_ds",
    "default_language": "default_language",
    "currency": "currency",
}


def _who(created_by: list[str]) -> dict[str, str]:
    """Who made each version, as the audit screen names actors: a user's email, an API key's display."""
    ids = {value.split(":", 1)[-1] for value in created_by}
    names = actor_names(uow().session, ids)
    shown = {}
    for value in created_by:
        kind, _, actor = value.partition(":")
        name = names.get(actor, actor)
        shown[value] = f"API key {name}" if kind == "api_key" else ("Kassa" if kind == "system" else name)
    return shown


def _tenant() -> Tenant:
    return tenant_by_id(uow().session, str(current_user.tenant_id))


def _now() -> datetime:
    return runtime().clock.now()


def _amount(text: str | None, currency: str, param: str) -> int | None:
    text = (text or "").strip().replace(",", ".")
    if not text:
        return None
    try:
        return money.from_decimal(Decimal(text), currency, param=param)
    except InvalidOperation:
        raise InvalidInput("Enter an amount like 100.00.", param=param) from None


def _country_code(text: str | None) -> str:
    value = (text or "").strip().upper()
    return ALL_COUNTRIES if value == ALL_COUNTRIES else validate_country(value)


def _code_or_none(text: str | None) -> str:
    return (text or "").strip().upper()


def _preview(tenant: Tenant, layers_by_name: dict[str, list[Any]]) -> dict[str, Any]:
    """The preview form (GET) and what it shows for each rule set, decided as the hosted page decides."""
    form = PreviewForm(request.args)
    country = (form.country.data or tenant.country).strip().upper()
    currency = (form.currency.data or tenant.default_currency).strip().upper()
    amount_text = form.amount.data or "100.00"
    form.country.data, form.currency.data, form.amount.data = country, currency, amount_text
    results: dict[str, versions.Preview] = {}
    error = None
    try:
        country = validate_country(country, param="country")
        currency = money.validate_currency(currency, param="currency")
        amount = _amount(amount_text, currency, "amount") or 0
        methods = checkout_settings.payment_methods_of(tenant, livemode=mode.livemode())
        for name, layers in layers_by_name.items():
            results[name] = versions.preview(
                layers, country=country, currency=currency, amount=amount, methods=methods
            )
    except InvalidInput as problem:
        error = problem.message
    return {"preview_form": form, "previews": results, "preview_error": error}


def _rule_form(draft_layers: list[Any], tenant: Tenant) -> RuleForm:
    """The rule form, filled with the draft's rule for `?edit=<country>` (or empty for a new one)."""
    edit = (request.args.get("edit") or "").strip().upper()
    form = RuleForm(formdata=None, currency=tenant.default_currency)
    layer = next((x for x in draft_layers if x["country"] == edit), None)
    if layer is None:
        return form
    currency = tenant.default_currency
    limits = next((e for e in layer.get("amount_limits") or () if e["currency"] == currency), None)
    if limits is None and layer.get("amount_limits"):
        limits = layer["amount_limits"][0]
        currency = limits["currency"]

    def shown(value: int | None) -> str:
        return "" if value is None else str(money.to_decimal(value, currency))

    form.country.data = layer["country"]
    form.methods.data = list(layer.get("methods") or [])
    form.currency.data = currency
    form.min_amount.data = shown((limits or {}).get("min"))
    form.max_amount.data = shown((limits or {}).get("max"))
    for entry in layer.get("method_limits") or ():
        if entry["currency"] == currency:
            getattr(form, f"{entry['method']}_max").data = shown(entry.get("max"))
    required = layer.get("required_fields")
    form.required_fields.data = (
        "" if required is None else (",".join(sorted(required, reverse=True)) or "none")
    )
    bps = layer.get("surcharge_bps")
    form.surcharge.data = "" if bps is None else f"{bps / 100:g}"
    form.three_ds.data = layer.get("three_ds") or ""
    form.default_language.data = layer.get("default_language") or ""
    return form


def _page(rule_form: RuleForm | None = None, publish_form: PublishForm | None = None) -> str:
    db, now, livemode = uow().session, _now(), mode.livemode()
    tenant = _tenant()
    current = locality.in_force_at(db, livemode=livemode, at=now)
    current_layers = versions.current_layers(db, livemode=livemode, now=now)
    draft = versions.latest_draft(db, livemode=livemode)
    draft_layers = list(draft.rules) if draft is not None else current_layers
    sets = {"now": current_layers}
    if draft is not None:
        sets["draft"] = draft_layers
    history = versions.list_versions(db, livemode=livemode, limit=HISTORY_SHOWN).items
    in_force = current.id if current is not None else ""
    block = "preview" if is_htmx() and request.method == "GET" and "country" in request.args else None
    return render_page_or_block(
        "portal/locality/index.html",
        block=block,
        now=now,
        current=current,
        current_layers=current_layers,
        draft=draft,
        draft_layers=draft_layers,
        scheduled=versions.scheduled(db, livemode=livemode, now=now),
        history=[(v, versions.status_of(db, v, now=now, in_force_id=in_force)) for v in history],
        who=_who([v.created_by for v in history]),
        summarize=versions.summarize,
        rule_form=rule_form or _rule_form(draft_layers, tenant),
        publish_form=publish_form or PublishForm(formdata=None),
        action_form=ActionForm(),
        can_write=current_user.can("settings:write"),
        no_surcharge=locality.surcharge_countries_text(),
        **_preview(tenant, sets),
    )


def editor() -> str:
    return _page()


def _draft_id() -> str:
    """The mode's draft, started as a copy of the rules in force when there is none."""
    db, livemode = uow().session, mode.livemode()
    draft = versions.latest_draft(db, livemode=livemode)
    if draft is None:
        draft = versions.create(db, user_context(), tenant_id=str(current_user.tenant_id), livemode=livemode)
    return draft.id


def _form_errors(form: Any, error: KassaError) -> None:
    name = FIELD_OF_PARAM.get(error.param or "")
    target = getattr(form, name) if name else None
    if target is None:
        form.form_errors.append(error.message)
        return
    target.errors = [*target.errors, error.message]


def _back(**args: str) -> Response:
    return redirect(url_for("portal.locality", **args), code=303)


def save_rule() -> Response | str:
    form = RuleForm()
    if not form.validate_on_submit():
        return _page(rule_form=form)
    try:
        country = _country_code(form.country.data)
        currency = money.validate_currency((form.currency.data or "").strip(), param="currency")
        draft_id = _draft_id()
        draft = versions.get(uow().session, livemode=mode.livemode(), version_id=draft_id)
        existing = next((x for x in draft.rules if x["country"] == country), None)
        surcharge_text = (form.surcharge.data or "").strip().rstrip("%").replace(",", ".")
        try:
            surcharge = None if not surcharge_text else int(Decimal(surcharge_text) * 100)
        except InvalidOperation:
            raise InvalidInput(
                "Enter the surcharge as a percentage, like 1.5.", param="surcharge_bps"
            ) from None
        required = form.required_fields.data or ""
        data: dict[str, Any] = {
            "country": country,
            "methods": list(form.methods.data or []) or None,
            **versions.with_currency_limits(
                existing,
                currency=currency,
                min_amount=_amount(form.min_amount.data, currency, "amount_limits.min"),
                max_amount=_amount(form.max_amount.data, currency, "amount_limits.max"),
                method_max={
                    "card": _amount(form.card_max.data, currency, "card_max"),
                    "wallet": _amount(form.wallet_max.data, currency, "wallet_max"),
                    "bank": _amount(form.bank_max.data, currency, "bank_max"),
                },
            ),
            "required_fields": None if not required else ([] if required == "none" else required.split(",")),
            "surcharge_bps": surcharge,
            "three_ds": form.three_ds.data or None,
            "default_language": form.default_language.data or None,
        }
        versions.put_rule(
            uow().session, user_context(), livemode=mode.livemode(), version_id=draft_id, data=data
        )
    except KassaError as error:
        if error.status >= 500 or error.keeps_effects:
            raise
        uow().rollback()
        if error.param in ("card_max", "wallet_max", "bank_max"):
            getattr(form, error.param).errors = [error.message]
        elif error.param == "surcharge_bps" and locality.surcharge_reason(_code_or_none(form.country.data)):
            reason = locality.surcharge_reason(_code_or_none(form.country.data))
            form.surcharge.errors = [f"{reason}: leave the surcharge empty or 0."]
        else:
            _form_errors(form, error)
        return _page(rule_form=form)
    flash(
        f"The rule for {'every country' if country == ALL_COUNTRIES else country} is saved to the draft.",
        "success",
    )
    return _back()


def remove_rule() -> Response:
    form = ActionForm()
    country = (request.form.get("country") or "").strip().upper()
    draft = versions.latest_draft(uow().session, livemode=mode.livemode())
    if not form.validate_on_submit() or draft is None or not country:
        flash("Nothing to remove: the form expired or the draft is gone. Try again.", "error")
        return _back()
    try:
        versions.remove_rule(
            uow().session, user_context(), livemode=mode.livemode(), version_id=draft.id, country=country
        )
    except KassaError as error:
        uow().rollback()
        flash(error.message, "error")
        return _back()
    flash(f"The rule for {country} is removed from the draft.", "success")
    return _back()


def publish() -> Response | str:
    form = PublishForm()
    draft = versions.latest_draft(uow().session, livemode=mode.livemode())
    if draft is None:
        flash("There is no draft to publish: save a rule first.", "error")
        return _back()
    if not form.validate_on_submit():
        return _page(publish_form=form)
    moment = None
    if form.when.data == "later":
        if form.effective_at.data is None:
            form.effective_at.errors = ["Enter the date and time the draft takes effect (UTC)."]
            return _page(publish_form=form)
        moment = form.effective_at.data.replace(tzinfo=UTC)
    ctx = user_context()
    try:
        if form.note.data:
            versions.update(
                uow().session,
                ctx,
                livemode=mode.livemode(),
                version_id=draft.id,
                changes={"note": form.note.data},
            )
        version = versions.publish(
            uow().session, ctx, livemode=mode.livemode(), version_id=draft.id, effective_at=moment
        )
    except KassaError as error:
        if error.status >= 500 or error.keeps_effects:
            raise
        uow().rollback()
        form.effective_at.errors = [*form.effective_at.errors, error.message]
        return _page(publish_form=form)
    if moment is None:
        flash(f"Version {version.number} is in force now.", "success")
    else:
        flash(f"Version {version.number} is scheduled for {moment:%Y-%m-%d %H:%M} UTC.", "success")
    return _back()


def discard() -> Response:
    form = ActionForm()
    draft = versions.latest_draft(uow().session, livemode=mode.livemode())
    if form.validate_on_submit() and draft is not None:
        versions.discard(uow().session, user_context(), livemode=mode.livemode(), version_id=draft.id)
        flash("The draft is discarded.", "success")
    return _back()


def _change_version(
    operation: Callable[..., LocalityRuleVersion], version_id: str, *, done: str, refused: Response
) -> Response:
    """One version's button (cancel, restore): an expired form is a 400 and an unknown version the 404
    page; a refusal (a change already in force, a version that never was) is a message on the `refused`
    page. `done` is the success message, with the resulting version's `{number}`."""
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        version = operation(uow().session, user_context(), livemode=mode.livemode(), version_id=version_id)
    except KassaError as error:
        if error.status == 404:
            raise
        uow().rollback()
        flash(error.message, "error")
        return refused
    flash(done.format(number=version.number), "success")
    return _back()


def cancel(version_id: str) -> Response:
    """Cancel a scheduled change (it is discarded; the audit trail keeps it)."""
    return _change_version(
        versions.discard,
        version_id,
        done="The change scheduled as version {number} is canceled.",
        refused=_back(),
    )


def version_detail(version_id: str) -> str:
    db, now = uow().session, _now()
    version = versions.get(db, livemode=mode.livemode(), version_id=version_id)
    return render_page_or_block(
        "portal/locality/version.html",
        version=version,
        status=versions.status_of(db, version, now=now),
        who=_who([version.created_by]),
        summarize=versions.summarize,
        action_form=ActionForm(),
        can_write=current_user.can("settings:write"),
    )


def restore(version_id: str) -> Response:
    back_to_version = redirect(url_for("portal.locality_version", version_id=version_id), code=303)
    return _change_version(
        versions.restore,
        version_id,
        done="Version {number} restores the rules and is in force now.",
        refused=back_to_version,
    )


def dry_run() -> str:
    """The draft (or `?version=`) replayed against the mode's payments of the last 30 days."""
    db, now, livemode = uow().session, _now(), mode.livemode()
    chosen = request.args.get("version")
    version = (
        versions.get(db, livemode=livemode, version_id=chosen)
        if chosen
        else versions.latest_draft(db, livemode=livemode)
    )
    result = None
    if version is not None:
        result = dry_runs.dry_run(
            db, livemode=livemode, layers=version.rules, tenant_country=_tenant().country, now=now
        )
    return render_page_or_block("portal/locality/dry_run.html", version=version, result=result, now=now)
