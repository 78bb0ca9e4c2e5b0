"""Partners, their team, invitations, 2FA recovery codes and API keys."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone

from trunkline.core.ids import id_factory

TRIAL_DAYS = 14


class Partner(models.Model):
    class Status(models.TextChoices):
        TRIAL = "TRIAL"
        ACTIVE = "ACTIVE"
        SUSPENDED = "SUSPENDED"
        CANCELLED = "CANCELLED"

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("ptr"), editable=False
    )
    company_name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=63, unique=True)
    billing_email = models.EmailField(max_length=254)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.TRIAL)
    trial_ends_at = models.DateTimeField(null=True, blank=True)

    # White-label fields the emails already honour; the branding pages edit them.
    brand_name = models.CharField(max_length=100, blank=True)
    brand_from_email = models.EmailField(max_length=254, blank=True)
    brand_support_email = models.EmailField(max_length=254, blank=True)
    primary_color = models.CharField(max_length=7, blank=True)

    # Settings → Notifications: the guide's four toggles.
    notify_new_tenants = models.BooleanField(default=True)
    notify_usage_alerts = models.BooleanField(default=True)
    notify_monthly_reports = models.BooleanField(default=True)
    notify_system_updates = models.BooleanField(default=True)

    # Tenants → Tenant Defaults: pre-fill new tenants only.
    default_timezone = models.CharField(max_length=64, default="America/Chicago")
    default_cnam = models.CharField(max_length=15, blank=True)
    default_suspension_behavior = models.CharField(max_length=20, default="suspend")
    # Usage limits new tenants start with (Tenant Defaults): the partner guide's
    # recommended starting limits; null: no limit.
    default_monthly_spend_limit_micros = models.BigIntegerField(
        null=True, blank=True, default=500_000_000
    )
    default_max_extensions = models.PositiveIntegerField(null=True, blank=True, default=50)
    default_max_dids = models.PositiveIntegerField(null=True, blank=True, default=10)
    default_max_monthly_minutes = models.PositiveIntegerField(null=True, blank=True, default=5000)
    default_alert_threshold_percent = models.PositiveSmallIntegerField(default=80)
    # Settings → Billing Config → Default Suspension After: days an invoice may be overdue
    # before its tenant is suspended, unless the tenant's billing profile says otherwise.
    suspension_after_days = models.PositiveSmallIntegerField(default=14)

    # Requests per minute over all the partner's API keys; staff raise it on request.
    api_rate_limit = models.PositiveIntegerField(default=1000)

    created_at = models.DateTimeField(default=timezone.now, editable=False)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["company_name"]

    def __str__(self) -> str:
        return self.company_name

    @property
    def display_brand(self) -> str:
        return self.brand_name or self.company_name

    def start_trial(self, now=None) -> None:
        now = now or timezone.now()
        self.status = self.Status.TRIAL
        self.trial_ends_at = now + timedelta(days=TRIAL_DAYS)

    def trial_days_left(self, now=None) -> int | None:
        if self.status != self.Status.TRIAL or not self.trial_ends_at:
            return None
        remaining = self.trial_ends_at - (now or timezone.now())
        return max(0, remaining.days + (1 if remaining.seconds else 0))


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields) -> User:
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields) -> User:
        fields.update(is_staff=True, is_superuser=True, email_verified_at=timezone.now())
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    class Role(models.TextChoices):
        PARTNER_ADMIN = "PARTNER_ADMIN", "Partner Admin"
        PARTNER_USER = "PARTNER_USER", "Partner User"
        TENANT_ADMIN = "TENANT_ADMIN", "Tenant Admin"
        PLATFORM_STAFF = "PLATFORM_STAFF", "Platform Staff"

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("usr"), editable=False
    )
    email = models.EmailField(max_length=254, unique=True)
    name = models.CharField(max_length=150, blank=True)
    partner = models.ForeignKey(
        Partner, null=True, blank=True, on_delete=models.CASCADE, related_name="users"
    )
    tenant = models.ForeignKey(
        "tenants.Tenant", null=True, blank=True, on_delete=models.CASCADE, related_name="users"
    )
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.PARTNER_ADMIN)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    email_verified_at = models.DateTimeField(null=True, blank=True)
    totp_secret = models.TextField(blank=True)  # encrypted at rest
    totp_enabled_at = models.DateTimeField(null=True, blank=True)
    # The time step of the last code accepted, so one code cannot be replayed.
    totp_last_step = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    removed_at = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    @property
    def is_partner_admin(self) -> bool:
        return self.role == self.Role.PARTNER_ADMIN

    @property
    def can_write(self) -> bool:
        return self.role in (self.Role.PARTNER_ADMIN, self.Role.TENANT_ADMIN) or self.is_staff

    @property
    def has_2fa(self) -> bool:
        return self.totp_enabled_at is not None


class RecoveryCode(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"recovery code of {self.user_id}"


class LoginFailure(models.Model):
    """Failed sign-ins, counted per email and per address to throttle guessing."""

    email = models.CharField(max_length=254, db_index=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [
            models.Index(fields=["email", "created_at"]),
            models.Index(fields=["ip_address", "created_at"]),
        ]

    def __str__(self) -> str:
        return self.email


class Invitation(models.Model):
    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("ivt"), editable=False
    )
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(max_length=254)
    name = models.CharField(max_length=150, blank=True)
    role = models.CharField(max_length=20, choices=User.Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.email

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None


class ApiKey(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "ACTIVE"
        REVOKED = "REVOKED"
        EXPIRED = "EXPIRED"

    DEFAULT_RATE_LIMIT = 100
    MAX_RATE_LIMIT = 10_000

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("key"), editable=False
    )
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True)  # SHA-256 of the whole key
    prefix = models.CharField(max_length=16)
    last_four = models.CharField(max_length=4)
    scopes = models.JSONField(default=list)
    tenants = models.ManyToManyField("tenants.Tenant", blank=True, related_name="+")
    rate_limit = models.PositiveIntegerField(default=DEFAULT_RATE_LIMIT)
    # The operator's own key: it also opens the platform's endpoints (`/v1/platform/…`).
    # Set only from the command line (`trunkline create-api-key --platform`).
    platform = models.BooleanField(default=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    @property
    def masked(self) -> str:
        return f"{self.prefix}...{self.last_four}"

    def status_at(self, now=None) -> str:
        if self.revoked_at is not None:
            return self.Status.REVOKED
        if self.expires_at is not None and self.expires_at <= (now or timezone.now()):
            return self.Status.EXPIRED
        return self.Status.ACTIVE

    @property
    def status(self) -> str:
        return self.status_at()


class ApiRequestLog(models.Model):
    """Every authenticated API call, so a partner can audit a leaked key's use."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    api_key_id = models.CharField(max_length=40, db_index=True)
    api_key_name = models.CharField(max_length=100)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    status_code = models.PositiveSmallIntegerField()
    request_id = models.CharField(max_length=64)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["partner", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.status_code}"
