"""The `data` of each webhook event, as pydantic models.

They describe what the services put in `event_emit(..., data=...)`; a test emits every
event that has a schema through the real services and validates the payload against it,
so the published OpenAPI "Webhook events" cannot drift from what is sent. Events whose
features are not built yet have no schema here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Data(BaseModel):
    # Receivers should ignore fields they do not know: new ones may be added.
    model_config = ConfigDict(extra="allow")


class WebhookE911Address(_Data):
    street: str
    street2: str | None
    city: str
    state: str = Field(description="Two-letter US state code.")
    postal_code: str
    country: str = Field(description="Two-letter country code; always US today.")


class WebhookTenant(_Data):
    """The tenant as it is after the change."""

    id: str = Field(description="Tenant id, `tnt_…`.", examples=["tnt_0001HG2Z4W6X8Y"])
    name: str
    sip_prefix: str
    billing_email: str
    default_cnam: str | None
    timezone: str = Field(description="IANA time zone name.", examples=["America/Chicago"])
    status: Literal["TRIAL", "ACTIVE", "SUSPENDED", "CANCELLED"]
    e911_address: WebhookE911Address | None
    created_at: datetime


class TenantEventData(_Data):
    """`tenant.created` and `tenant.unsuspended`."""

    tenant: WebhookTenant


class TenantUpdatedData(_Data):
    tenant: WebhookTenant
    previous_attributes: dict[str, object] = Field(
        description="The old value of each field that changed, keyed by field name "
        "(`status` included when an edit moved the tenant between statuses)."
    )


class TenantSuspendedData(_Data):
    tenant: WebhookTenant
    reason: str = Field(description="The reason given when suspending; may be empty.")


class TenantDeletedData(_Data):
    tenant: WebhookTenant
    purge_after: datetime = Field(
        description="When the cancelled tenant's data is purged, unless it is reactivated first."
    )


PlanName = Literal["starter", "professional", "business", "enterprise"]


class WebhookSubscription(_Data):
    """The partner's platform subscription as it is after the change."""

    partner_id: str = Field(description="Partner id, `ptr_…`.")
    plan: PlanName
    status: Literal["TRIAL", "ACTIVE", "SUSPENDED", "CANCELLED"] = Field(
        description="The partner account's status."
    )
    pending_plan: PlanName | None = Field(
        description="A downgrade waiting for the end of the cycle, if any."
    )
    trial_ends_at: datetime | None
    activated_at: datetime | None
    current_period_start: datetime | None
    current_period_end: datetime | None = Field(description="Exclusive.")
    past_due_since: datetime | None = Field(
        description="When the card first refused a subscription invoice still unpaid."
    )
    monthly_fee: str | None = Field(
        description="The plan's monthly fee in force, decimal dollars.", examples=["549.00"]
    )


class SubscriptionActivatedData(_Data):
    subscription: WebhookSubscription
    invoice_id: str = Field(description="The activation's subscription invoice, `sin_…`.")


class SubscriptionUpdatedData(_Data):
    subscription: WebhookSubscription
    previous_attributes: dict[str, object] = Field(
        description="The old value of each subscription field that changed."
    )


class WebhookPaymentMethod(_Data):
    """A card (or bank account) on file; the number itself is never stored or sent."""

    id: str = Field(description="Payment method id, `pmt_…`.")
    kind: Literal["card", "us_bank_account"]
    brand: str = Field(examples=["visa"])
    last4: str = Field(examples=["4242"])
    exp_month: int | None
    exp_year: int | None
    is_default: bool
    tenant_id: str | None = Field(
        default=None,
        description="A tenant's card (`tpm_…`), saved to pay its invoices; null: the "
        "partner's own card (`pmt_…`).",
    )


class PaymentMethodAttachedData(_Data):
    payment_method: WebhookPaymentMethod


class PaymentFailedData(_Data):
    """A card charge that did not go through: the partner's own card, or (with
    `tenant_id` and `invoice_id`) a tenant's card charged for one of its invoices."""

    charge_id: str = Field(description="The processor's charge id.")
    status: Literal["declined", "requires_action"] = Field(
        description="`requires_action`: the bank asks the cardholder to confirm the charge."
    )
    amount: str = Field(description="Dollars as a decimal string.", examples=["50.00"])
    description: str = Field(description="What the charge was for.")
    message: str = Field(description="The processor's reason, safe to show.")
    payment_method_id: str
    tenant_id: str | None = Field(default=None, description="The tenant whose card it was.")
    invoice_id: str | None = Field(default=None, description="The invoice being collected.")


class WebhookPhoneNumber(_Data):
    """The number as it is after the change."""

    id: str = Field(description="Phone number id, `did_…`.")
    number: str = Field(description="E.164.", examples=["+15012025555"])
    kind: Literal["local", "toll_free"]
    status: Literal["PENDING", "ACTIVE", "RELEASED", "QUARANTINED", "DISCONNECTED"]
    tenant_id: str | None = Field(description="The tenant it is assigned to; null: unassigned.")
    state: str | None
    city: str | None
    rate_center: str | None
    cnam: str | None = Field(description="The number's own caller ID name; null inherits.")
    e911_status: Literal["NOT_SET", "PENDING", "REGISTERED", "FAILED"]
    reserved: bool
    route: dict[str, str] | None = Field(
        default=None,
        description="Where calls to it go (a destination: `{type, id}`, `{type: external, "
        "number}` or `{type: hangup}`); null: the tenant's unassigned-DID route.",
    )


class PhoneNumberPurchasedData(_Data):
    phone_number: WebhookPhoneNumber
    monthly: str = Field(description="Its monthly price, dollars.", examples=["1.75"])
    setup_fee: str = Field(description="The one-time setup fee charged, dollars.")


class PhoneNumberAssignedData(_Data):
    """`phone_number.assigned` (also when taken back: `tenant_id` null) and
    `phone_number.released`."""

    phone_number: WebhookPhoneNumber
    previous_tenant_id: str | None


class PhoneNumberUpdatedData(_Data):
    phone_number: WebhookPhoneNumber
    previous_attributes: dict[str, object] = Field(
        description="The old value of each field that changed (`status`, `cnam`, "
        "`cnam_status`, `e911_address`, `e911_status`, `reserved`, `route`)."
    )


class WebhookPortRequest(_Data):
    """A port-in request as it is after the change. The account PIN is never sent."""

    id: str = Field(description="Port request id, `prt_…`.")
    tenant_id: str
    status: Literal["PENDING", "SUBMITTED", "FOC_RECEIVED", "COMPLETED", "REJECTED", "CANCELLED"]
    numbers: list[str] = Field(description="E.164 numbers being ported.")
    current_carrier: str
    account_holder: str
    business_name: str | None
    account_number: str
    pin_set: bool = Field(description="Whether a PIN is on file.")
    service_address: WebhookE911Address
    desired_date: str | None
    foc_date: str | None = Field(description="The carrier's Firm Order Commit date, once known.")
    rejection_reason: str | None
    notes: str | None


class PortRequestEventData(_Data):
    """Every `port_request.*` event."""

    port_request: WebhookPortRequest
    previous_attributes: dict[str, object] = Field(
        default_factory=dict, description="The old value of each field that changed."
    )


class WebhookInvoice(_Data):
    """A partner's invoice to one of its tenants, as it is after the change."""

    id: str = Field(description="Invoice id, `inv_…`.")
    number: str = Field(description="The partner's invoice number.", examples=["INV-000042"])
    tenant_id: str
    status: Literal["DRAFT", "SENT", "PARTIALLY_PAID", "PAID", "OVERDUE", "CANCELLED"]
    period_start: str = Field(description="First day billed (the tenant's date).")
    period_end: str = Field(description="The day after the last day billed.")
    subtotal: str = Field(description="Dollars as a decimal string.", examples=["99.00"])
    tax: str
    total: str
    amount_paid: str
    amount_due: str
    due_date: str | None


class InvoiceEventData(_Data):
    invoice: WebhookInvoice


class InvoiceFailedData(_Data):
    """Charging the tenant's card for an invoice failed; the invoice stays open."""

    invoice: WebhookInvoice
    attempt: int = Field(description="Which attempt this was, from 1.")
    message: str = Field(description="The processor's reason, safe to show.")
    next_attempt_at: str | None = Field(
        description="When the card is tried again automatically; null: no more tries."
    )


class WebhookCheckoutSession(_Data):
    """A hosted payment page for an invoice, as it is after the change."""

    id: str = Field(description="Checkout session id, `ics_…`.")
    invoice_id: str
    tenant_id: str
    status: Literal["OPEN", "COMPLETED", "EXPIRED"]
    amount: str = Field(description="What the page asked for, in dollars.", examples=["49.00"])
    fee: str = Field(description="The platform's fee on the payment, in dollars.")
    mode: Literal["platform", "connect", "custom_keys"] = Field(
        description="Where the payment was collected (Settings → Billing → Tenant Billing)."
    )
    payment_id: str = Field(description="The processor's payment (Stripe: `pi_…`).")
    created_at: datetime
    expires_at: datetime
    completed_at: datetime | None


class CheckoutSessionCompletedData(_Data):
    """The tenant paid on the hosted payment page; `invoice` is as the payment left it
    (a payment larger than what was still due becomes the tenant's account credit)."""

    checkout_session: WebhookCheckoutSession
    invoice: WebhookInvoice


class WebhookExtension(_Data):
    id: str = Field(description="Extension id, `ext_…`.")
    tenant_id: str
    number: str = Field(description="2 to 6 digits, unique in the tenant.", examples=["101"])
    name: str
    email: str | None
    main_number: str | None = Field(description="The user's main number, E.164.")
    additional_numbers: list[str] = Field(
        default_factory=list,
        description="The tenant's numbers routed to the user besides its main number, E.164.",
    )
    site_id: str
    department_id: str | None
    license: str | None = Field(
        description="The user's seat licence on a tenant billed by licence, else null.",
        examples=["seat_basic"],
    )
    addons: list[str] = Field(description="The user's add-on licences.")
    created_at: datetime
    updated_at: datetime


class ExtensionEventData(_Data):
    """`extension.created` and `extension.deleted` (the extension as it was)."""

    extension: WebhookExtension


class ExtensionUpdatedData(_Data):
    extension: WebhookExtension
    call_settings: dict[str, object] | None = Field(
        default=None,
        description="The user's call settings after the change, when they changed (the "
        "shape of `GET …/call-settings`); `previous_attributes.call_settings` then holds the "
        "old value of each setting that changed.",
    )
    previous_attributes: dict[str, object] = Field(
        description="The old value of each field that changed, keyed by field name."
    )


class WebhookCall(_Data):
    """A rated call record as `GET /v1/calls` shows it."""

    id: str = Field(description="Call record id, `cdr_…`.")
    call_id: str = Field(description="The call engine's id of the call (Asterisk's uniqueid).")
    tenant_id: str
    direction: Literal["inbound", "outbound"]
    call_class: Literal["local", "toll_free", "international"]
    from_: str = Field(alias="from", description="The calling number, E.164 when it is one.")
    to: str = Field(description="The called number, E.164 when it is one.")
    started_at: datetime
    answered_at: datetime | None = Field(description="Null: the call was not answered.")
    ended_at: datetime
    billsec: int = Field(description="Seconds from answer to hang-up, as the call engine says.")
    billable_seconds: int = Field(description="The seconds charged, after rounding up.")
    cost: str = Field(
        description="The partner's wholesale cost of the call, dollars.", examples=["0.022"]
    )
    cycle_start: str = Field(description="The first day of the tenant's usage cycle it counts in.")


class CallEventData(_Data):
    """`call.completed` (an outbound call was answered), `call.failed` (it was not: no
    answer, busy, congestion or a failure), `inbound_call.completed` and
    `inbound_call.abandoned` (an inbound call nobody answered): sent once for each record
    stored, never for a record sent again."""

    call: WebhookCall
