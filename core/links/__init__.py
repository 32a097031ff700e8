"""Payment links: reusable `/l/<slug>` URLs, each visit opening a fresh checkout session."""
