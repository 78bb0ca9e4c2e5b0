"""A small server speaking the part of Stripe's API that Trunkline calls, on loopback.

Only the documented endpoints the Stripe processor uses, with Stripe's documented
request encoding (form fields, `Authorization: Bearer`, `Idempotency-Key`) and response
shapes (https://docs.stripe.com/api):

- POST /v1/customers
- POST /v1/payment_methods/{id}/attach, POST /v1/payment_methods/{id}/detach
- POST /v1/payment_intents (with `confirm=true`), GET /v1/payment_intents/{id}
- POST /v1/refunds
- GET /v1/account (the key's own account)
- POST /v1/accounts, GET and POST /v1/accounts/{id}, POST /v1/account_links (Connect)
- POST /v1/checkout/sessions (mode=payment), GET /v1/checkout/sessions/{id}

Objects belong to the account a request acts for: the `Stripe-Account` header's connected
account, else the account of the API key (the platform's `api_key`, or a key in
`other_keys`, standing for a partner's own Stripe account). A customer of one account is
unknown to another, as at Stripe; `onboard(account_id)` plays the partner finishing the
hosted onboarding of a connected account.

A Checkout Session is open until `pay_session(session_id)` plays the payer paying on
Stripe's hosted page (a succeeded PaymentIntent with the session's
`payment_intent_data`, on the session's account) or `expire_session(session_id)` lets it
run out.

A 3-D Secure intent created with `return_url` carries `next_action.redirect_to_url`, as
Stripe's does; `authenticate(intent_id, approved)` plays the cardholder at the bank.

Test PaymentMethod ids behave like Stripe's test cards of the same names: `pm_card_visa`
and `pm_card_mastercard` succeed, `pm_card_visa_chargeDeclined` is declined when attached,
`pm_card_chargeCustomerFail` attaches and is declined on charge,
`pm_card_chargeDeclinedInsufficientFunds` is declined for insufficient funds, and
`pm_card_authenticationRequired` needs 3-D Secure on every charge. Every request is kept
in `requests` for tests to inspect.
"""

from __future__ import annotations

import itertools
import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

CARDS = {
    "pm_card_visa": ("visa", "4242", "ok"),
    "pm_card_mastercard": ("mastercard", "4444", "ok"),
    "pm_card_visa_chargeDeclined": ("visa", "0002", "attach_declined"),
    "pm_card_chargeCustomerFail": ("visa", "0341", "charge_declined"),
    "pm_card_chargeDeclinedInsufficientFunds": ("visa", "9995", "insufficient_funds"),
    "pm_card_authenticationRequired": ("visa", "3184", "authentication"),
}


@dataclass
class Recorded:
    method: str
    path: str
    form: dict[str, str]
    headers: dict[str, str]


@dataclass
class FakeStripe:
    api_key: str = "sk_test_fake_secret_key_123"
    # Other accounts' own secret keys (a partner's Custom Keys) → their account id.
    other_keys: dict[str, str] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    accounts: dict[str, dict] = field(default_factory=dict)
    refunds: dict[str, dict] = field(default_factory=dict)
    customers: dict[str, dict] = field(default_factory=dict)
    payment_methods: dict[str, dict] = field(default_factory=dict)
    intents: dict[str, dict] = field(default_factory=dict)
    sessions: dict[str, dict] = field(default_factory=dict)
    # Stripe answers a repeated idempotency key with the first response, errors included.
    replies: dict[str, tuple[int, dict]] = field(default_factory=dict)
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self.ids):06d}"

    def handle(self, method: str, path: str, form: dict, headers: dict) -> tuple[int, dict]:
        with self.lock:
            self.requests.append(Recorded(method, path, form, headers))
            secret = headers.get("authorization", "").removeprefix("Bearer ")
            if secret == self.api_key:
                owner = "acct_platform"
            elif secret in self.other_keys:
                owner = self.other_keys[secret]
            else:
                return 401, _error(
                    "invalid_request_error", "Invalid API Key provided: sk_test_****", None
                )
            acting = headers.get("stripe-account") or owner
            if acting != owner and (owner != "acct_platform" or acting not in self.accounts):
                return 403, _error(
                    "invalid_request_error",
                    "The provided key does not have access to account "
                    f"'{acting}' (or that account does not exist).",
                    None,
                )
            # Idempotency keys are per account, as at Stripe.
            key = headers.get("idempotency-key")
            key = f"{acting}|{key}" if key else None
            if method == "POST" and key and key in self.replies:
                return self.replies[key]
            self.acting = acting
            reply = self.route(method, path, form)
            if method == "POST" and key:
                self.replies[key] = reply
            return reply

    def route(self, method: str, path: str, form: dict) -> tuple[int, dict]:
        parts = path.strip("/").split("/")
        if method == "GET" and parts == ["v1", "account"]:
            return 200, {"id": self.acting, "object": "account"}
        if method == "POST" and parts == ["v1", "accounts"]:
            return self.account_create(form)
        if len(parts) == 3 and parts[:2] == ["v1", "accounts"]:
            account = self.accounts.get(parts[2])
            if account is None:
                return 404, _error(
                    "invalid_request_error", f"No such account: '{parts[2]}'", "resource_missing"
                )
            if method == "POST":
                descriptor = form.get("settings[payments][statement_descriptor]")
                if descriptor is not None:
                    account["settings"]["payments"]["statement_descriptor"] = descriptor
            return 200, account
        if method == "POST" and parts == ["v1", "account_links"]:
            if form.get("account") not in self.accounts or not form.get("return_url"):
                return 400, _error("invalid_request_error", "Invalid account link.", None)
            return 200, {
                "object": "account_link",
                "url": f"https://connect.stripe.com/setup/e/{form['account']}/fake",
                "expires_at": 2_000_000_000,
            }
        if method == "POST" and parts == ["v1", "refunds"]:
            return self.refund_create(form)
        if method == "POST" and parts == ["v1", "customers"]:
            return self.customer_create(form)
        if method == "POST" and len(parts) == 4 and parts[:2] == ["v1", "payment_methods"]:
            if parts[3] == "attach":
                return self.payment_method_attach(parts[2], form)
            if parts[3] == "detach":
                return self.payment_method_detach(parts[2])
        if method == "POST" and parts == ["v1", "payment_intents"]:
            return self.payment_intent_create(form)
        if method == "POST" and parts == ["v1", "checkout", "sessions"]:
            return self.checkout_session_create(form)
        if method == "GET" and len(parts) == 4 and parts[:3] == ["v1", "checkout", "sessions"]:
            session = self.sessions.get(parts[3])
            if session is None or session["_account"] != self.acting:
                return 404, _error(
                    "invalid_request_error",
                    f"No such checkout.session: '{parts[3]}'",
                    "resource_missing",
                )
            return 200, _public(session)
        if method == "GET" and len(parts) == 3 and parts[:2] == ["v1", "payment_intents"]:
            intent = self.intents.get(parts[2])
            if intent is None or intent["_account"] != self.acting:
                return 404, _error(
                    "invalid_request_error",
                    f"No such payment_intent: '{parts[2]}'",
                    "resource_missing",
                )
            return 200, _public(intent)
        return 404, _error("invalid_request_error", f"Unrecognized request URL ({path}).", None)

    def customer_create(self, form: dict) -> tuple[int, dict]:
        customer = {
            "id": self.new_id("cus"),
            "object": "customer",
            "email": form.get("email"),
            "name": form.get("name"),
            "metadata": {
                name[len("metadata[") : -1]: value
                for name, value in form.items()
                if name.startswith("metadata[")
            },
            "livemode": False,
            "_account": self.acting,
        }
        self.customers[customer["id"]] = customer
        return 200, _public(customer)

    def account_create(self, form: dict) -> tuple[int, dict]:
        if form.get("type") != "express":
            return 400, _error("invalid_request_error", "Only express accounts here.", None)
        account = {
            "id": self.new_id("acct"),
            "object": "account",
            "type": "express",
            "email": form.get("email"),
            "country": form.get("country"),
            "details_submitted": False,
            "charges_enabled": False,
            "requirements": {"currently_due": ["business_type", "external_account"]},
            "settings": {"payments": {"statement_descriptor": None}},
        }
        self.accounts[account["id"]] = account
        return 200, account

    def onboard(self, account_id: str) -> None:
        """The partner completed Stripe's hosted onboarding."""
        with self.lock:
            account = self.accounts[account_id]
            account.update(details_submitted=True, charges_enabled=True)
            account["requirements"] = {"currently_due": []}

    def refund_create(self, form: dict) -> tuple[int, dict]:
        intent = self.intents.get(form.get("payment_intent", ""))
        if intent is None or intent["_account"] != self.acting or intent["status"] != "succeeded":
            return 400, _error(
                "invalid_request_error", "No such payment_intent to refund.", "resource_missing"
            )
        amount = int(form.get("amount") or intent["amount"])
        if amount > intent["amount"] - intent.get("_refunded", 0):
            return 400, _error(
                "invalid_request_error",
                "Refund amount is greater than the unrefunded amount.",
                "amount_too_large",
            )
        intent["_refunded"] = intent.get("_refunded", 0) + amount
        refund = {
            "id": self.new_id("re"),
            "object": "refund",
            "amount": amount,
            "payment_intent": intent["id"],
            "status": "succeeded",
        }
        self.refunds[refund["id"]] = refund
        return 200, refund

    def payment_method_attach(self, token: str, form: dict) -> tuple[int, dict]:
        customer = form.get("customer")
        if customer not in self.customers or self.customers[customer]["_account"] != self.acting:
            return 400, _error(
                "invalid_request_error", f"No such customer: '{customer}'", None, param="customer"
            )
        known = CARDS.get(token) or next(
            (
                CARDS[method["_test"]]
                for method in self.payment_methods.values()
                if method["id"] == token
            ),
            None,
        )
        if known is None:
            return 400, _error(
                "invalid_request_error",
                f"No such PaymentMethod: '{token}'",
                "resource_missing",
                param="payment_method",
            )
        brand, last4, behaviour = known
        if behaviour == "attach_declined":
            return 402, _error(
                "card_error",
                "Your card was declined.",
                "card_declined",
                decline_code="generic_decline",
            )
        # Like Stripe, a test shortcut id yields a new PaymentMethod each time.
        method_id = self.new_id("pm") if token in CARDS else token
        method = {
            "id": method_id,
            "object": "payment_method",
            "type": "card",
            "customer": customer,
            "card": {"brand": brand, "last4": last4, "exp_month": 12, "exp_year": 2034},
            "livemode": False,
            "_test": token if token in CARDS else self.payment_methods[token]["_test"],
        }
        self.payment_methods[method_id] = method
        return 200, _public(method)

    def payment_method_detach(self, method_id: str) -> tuple[int, dict]:
        method = self.payment_methods.get(method_id)
        if method is None or method["customer"] is None:
            return 400, _error(
                "invalid_request_error",
                "The payment method you provided is not attached to a customer.",
                None,
            )
        method["customer"] = None
        return 200, _public(method)

    def payment_intent_create(self, form: dict) -> tuple[int, dict]:
        method = self.payment_methods.get(form.get("payment_method", ""))
        customer = self.customers.get(form.get("customer", ""))
        if customer is None or customer["_account"] != self.acting:
            return 400, _error(
                "invalid_request_error", f"No such customer: '{form.get('customer')}'", None
            )
        fee = form.get("application_fee_amount")
        if fee is not None and self.acting == "acct_platform":
            return 400, _error(
                "invalid_request_error",
                "Can only apply an application_fee_amount when the PaymentIntent is "
                "attempting a direct payment (using an OAuth key or Stripe-Account header) "
                "or destination payment (using `transfer_data[destination]`).",
                None,
            )
        if method is None or method["customer"] != form.get("customer"):
            return 400, _error(
                "invalid_request_error",
                "The provided PaymentMethod is not attached to this customer.",
                None,
                param="payment_method",
            )
        behaviour = CARDS[method["_test"]][2]
        off_session = form.get("off_session") == "true"
        intent = {
            "id": self.new_id("pi"),
            "object": "payment_intent",
            "amount": int(form["amount"]),
            "currency": form["currency"],
            "customer": form["customer"],
            "payment_method": method["id"],
            "description": form.get("description"),
            "application_fee_amount": int(fee) if fee is not None else None,
            "statement_descriptor_suffix": form.get("statement_descriptor_suffix"),
            "status": "succeeded",
            "next_action": None,
            "last_payment_error": None,
            "livemode": False,
            "_account": self.acting,
        }
        self.intents[intent["id"]] = intent
        if behaviour == "authentication" and not off_session:
            intent["status"] = "requires_action"
            if form.get("return_url"):
                intent["next_action"] = {
                    "type": "redirect_to_url",
                    "redirect_to_url": {
                        "url": f"https://hooks.stripe.com/3d_secure_2/authenticate/{intent['id']}",
                        "return_url": form["return_url"],
                    },
                }
            else:
                intent["next_action"] = {"type": "use_stripe_sdk", "use_stripe_sdk": {}}
            return 200, _public(intent)
        failure = {
            "authentication": (
                "authentication_required",
                None,
                "Your card requires authentication.",
            ),
            "charge_declined": ("card_declined", "generic_decline", "Your card was declined."),
            "insufficient_funds": (
                "card_declined",
                "insufficient_funds",
                "Your card has insufficient funds.",
            ),
        }.get(behaviour)
        if failure is None:
            return 200, _public(intent)
        code, decline_code, message = failure
        intent["status"] = "requires_payment_method"
        intent["last_payment_error"] = {"type": "card_error", "code": code, "message": message}
        return 402, _error(
            "card_error", message, code, decline_code=decline_code, payment_intent=_public(intent)
        )

    def checkout_session_create(self, form: dict) -> tuple[int, dict]:
        item = "line_items[0]"
        required = (
            "success_url",
            "cancel_url",
            f"{item}[quantity]",
            f"{item}[price_data][currency]",
            f"{item}[price_data][unit_amount]",
            f"{item}[price_data][product_data][name]",
        )
        missing = next((name for name in required if not form.get(name)), None)
        if form.get("mode") != "payment" or missing:
            return 400, _error(
                "invalid_request_error", f"Missing required param: {missing or 'mode'}.", None
            )
        if any(name.startswith("line_items[1]") for name in form):
            return 400, _error("invalid_request_error", "One line item here.", None)
        fee = form.get("payment_intent_data[application_fee_amount]")
        if fee is not None and self.acting == "acct_platform":
            return 400, _error(
                "invalid_request_error",
                "Can only apply an application_fee_amount when the Checkout Session is for "
                "a direct payment (using the Stripe-Account header).",
                None,
            )
        amount = int(form[f"{item}[price_data][unit_amount]"]) * int(form[f"{item}[quantity]"])
        session_id = self.new_id("cs_test")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": "payment",
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": amount,
            "currency": form[f"{item}[price_data][currency]"],
            "client_reference_id": form.get("client_reference_id"),
            "customer_email": form.get("customer_email"),
            "success_url": form["success_url"],
            "cancel_url": form["cancel_url"],
            "expires_at": int(form["expires_at"]) if form.get("expires_at") else None,
            "metadata": _nested(form, "metadata"),
            "payment_intent": None,
            "livemode": False,
            "_account": self.acting,
            "_payment_intent_data": _nested(form, "payment_intent_data"),
        }
        self.sessions[session_id] = session
        return 200, _public(session)

    def pay_session(self, session_id: str) -> dict:
        """The payer paid on Stripe's hosted page: returns the PaymentIntent."""
        with self.lock:
            session = self.sessions[session_id]
            data = session["_payment_intent_data"]
            fee = data.get("application_fee_amount")
            intent = {
                "id": self.new_id("pi"),
                "object": "payment_intent",
                "amount": session["amount_total"],
                "currency": session["currency"],
                "customer": None,
                "payment_method": self.new_id("pm"),
                "description": data.get("description"),
                "application_fee_amount": int(fee) if fee is not None else None,
                "statement_descriptor_suffix": data.get("statement_descriptor_suffix"),
                "status": "succeeded",
                "next_action": None,
                "last_payment_error": None,
                "livemode": False,
                "_account": session["_account"],
            }
            self.intents[intent["id"]] = intent
            session.update(status="complete", payment_status="paid", payment_intent=intent["id"])
            return intent

    def expire_session(self, session_id: str) -> None:
        with self.lock:
            self.sessions[session_id]["status"] = "expired"

    def authenticate(self, intent_id: str, *, approved: bool) -> None:
        """The cardholder's answer on the bank's 3-D Secure page."""
        with self.lock:
            intent = self.intents[intent_id]
            intent["next_action"] = None
            if approved:
                intent["status"] = "succeeded"
            else:
                intent["status"] = "requires_payment_method"
                intent["last_payment_error"] = {
                    "type": "card_error",
                    "code": "payment_intent_authentication_failure",
                    "message": "The provided PaymentMethod has failed authentication.",
                }

    def posted(self, path: str) -> list[Recorded]:
        return [request for request in self.requests if request.path == path]


def _public(obj: dict) -> dict:
    return {name: value for name, value in obj.items() if not name.startswith("_")}


def _nested(form: dict, name: str) -> dict:
    """`name[key]=value` form fields as {key: value} (one level; deeper keys kept whole)."""
    head = f"{name}["
    return {
        field[len(head) :].replace("][", ".").rstrip("]"): value
        for field, value in form.items()
        if field.startswith(head)
    }


def _error(type: str, message: str, code: str | None, **extra) -> dict:
    body = {"type": type, "message": message}
    if code:
        body["code"] = code
    body.update({name: value for name, value in extra.items() if value is not None})
    return {"error": body}


def serve(fake: FakeStripe) -> tuple[ThreadingHTTPServer, str]:
    """Start `fake` on a free loopback port; returns the server and its base address."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            form = {name: values[-1] for name, values in parse_qs(raw).items()}
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, body = fake.handle(self.command, self.path.split("?")[0], form, headers)
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Request-Id", f"req_fake{len(fake.requests):06d}")
            self.end_headers()
            self.wfile.write(payload)

        do_POST = _answer
        do_GET = _answer
        do_DELETE = _answer

        def log_message(self, format, *args) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    ).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


# A partner's own secret key (Custom Keys mode), which the fake knows as its own account.
PARTNER_KEY = "sk_test_51PartnerOwnAccountKey0123456789"


@contextmanager
def serving_collection(settings):
    """A fake Stripe on loopback that knows PARTNER_KEY, and the settings that send the
    platform's collection to it through the real SDK."""
    fake = FakeStripe(other_keys={PARTNER_KEY: "acct_partner_own"})
    server, base = serve(fake)
    settings.TRUNKLINE_PAYMENT_PROCESSOR = "stripe"
    settings.STRIPE_SECRET_KEY = fake.api_key
    settings.STRIPE_API_BASE = base
    settings.STRIPE_STATEMENT_DESCRIPTOR_PREFIX = "TRUNKLINE"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
