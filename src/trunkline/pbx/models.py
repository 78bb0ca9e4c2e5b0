"""A tenant's phone system: its sites and departments (`../shared/seeds/000_*.txt`,
"What are sites (or groups)?" and "What are departments?").

A site is where users, call flows and SIP trunks live; every tenant has at least one
(its default, made with the tenant), and what belongs to a site stays there. Departments
are the optional administrative tree beside it: nested, and users move between them at
any time.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from trunkline.core.ids import id_factory


class Site(models.Model):
    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("sit"), editable=False
    )
    partner = models.ForeignKey("accounts.Partner", on_delete=models.CASCADE, related_name="+")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="sites")
    name = models.CharField(max_length=100)
    timezone = models.CharField(max_length=64)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint("tenant", Lower("name"), name="site_name_once_per_tenant"),
            models.UniqueConstraint(
                fields=["tenant"], condition=Q(is_default=True), name="one_default_site"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Department(models.Model):
    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("dep"), editable=False
    )
    partner = models.ForeignKey("accounts.Partner", on_delete=models.CASCADE, related_name="+")
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="departments"
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["tenant", "parent"])]

    def __str__(self) -> str:
        return self.name
