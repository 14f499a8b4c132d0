"""What both Tollgate services share: RFC 9457 problem details, JSON logs with request ids, health."""
