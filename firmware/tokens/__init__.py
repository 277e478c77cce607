"""Token stores: one OAuth 2.0 token per mail context, split by job (httpx/h11-style).

Map (imports point down the list; only `provider_client` and `http` do I/O):

    store            `TokenStore`: wires the parts below; epoch, single-flight refresh
    tasks            `TaskKeeper`: the supervised background task, single-flight jobs, naps
    provider_client  `ProviderClient`: the only code that calls msal (device executor, deadline)
    http             `IdpSession`: shared SSL context, connect/read/body deadlines, size bound
    device_flow      `DeviceFlowPoller` (pure): when to poll, what each poll answer means
    refresh          `RefreshPolicy` (pure): when to renew, what each refresh answer means
    answers          what a provider said, typed: Issued | Granted | Refused | Unanswered | Garbled
    record           `TokenRecord`: the sealed, versioned NVRAM record
    machine          `TRANSITIONS` (the state machine as data), `Phase` → `TokenState`
    values           `FlowPrompt`, `TokenStatus`, `BearerToken`, `CheckResult`
    reasons          the sentences: the provider's words once, cut at a word boundary
    timing           `Instant` (date + monotonic reading), back-off with jitter

docs/tokens.md explains the schedule, the deadlines and the clock rules; docs/architecture.md
draws the machine.
"""
