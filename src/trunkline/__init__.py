"""Trunkline: a multi-tenant, white-label cloud-PBX platform."""
