"""Accounts pages: sign-in and sign-up flows, and Settings → Account, Users, Notifications."""
