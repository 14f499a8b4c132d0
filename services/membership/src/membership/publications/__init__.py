"""Publications (tenants) and their staff: owners and editors."""
