"""Token stores: the state machine table (`machine`) and the msal-backed store (`store`)."""
