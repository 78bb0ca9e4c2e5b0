"""The call engine's side of Trunkline: what the SIP registrar and Asterisk read."""
