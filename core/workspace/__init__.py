"""What the portal's screens ask core: one question per page (a payment's whole story, a day's figures),
answered from the feature packages below it. Framework-free, like the rest of core."""
