"""Mail: sending (Scan to E-mail, Internet Fax, alerts), and what sending and receiving share.

Map (imports point down the list; docs/mail.md tells the design):
    connection_test  the [Connection Test] button (SMTP and POP): first failing stage, server's words
    jobs             `JobQueue`: durable send jobs in NVRAM, retry with back-off, one sender task
    outgoing         scanned pages -> Scan to E-mail / Internet Fax message (Message-ID fixed)
    smtp_sender      `SmtpSender`: the one SMTP client (TLS, AUTH, XOAUTH2 with one renewal)
    session_token    `SessionToken`: take a store's token; after a refusal, renew it once
    errors           the exception tree: stage, temporary or not, the server's own words

Receiving (POP pollers, the spool, the print worker) is its own package, `firmware.receive`.
"""
