"""Small pieces membership's domains share."""
