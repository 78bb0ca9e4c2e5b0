"""Portal pages. Each parses its form, calls a service or a scoped selector, and renders."""
