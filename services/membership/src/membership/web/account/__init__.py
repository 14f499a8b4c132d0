"""The reader's own pages: "My membership" (subscriptions, entitlements, free stories, sessions,
billing) and the forms that change them, served under `/account` on the public origin."""
