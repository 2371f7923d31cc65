"""The caseworker's pages. Each view parses the request, checks access, calls one action or
query, and renders a template."""
