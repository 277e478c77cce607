"""Mail: sending (Scan to E-mail, Internet Fax, alerts) and receiving (Internet Fax, E-mail Print).

Map (imports point down the list; docs/mail.md tells the design):
    service          `MailService`: what the command API calls; checks arguments at the edge
    commands         console commands (scan, ifax send, job, jobs, test, mail check, tray)
    connection_test  the [Connection Test] button: first failing stage, server's words
    jobs             `JobQueue`: durable send jobs in NVRAM, retry with back-off, one sender task
    outgoing         scanned pages -> Scan to E-mail / Internet Fax message (Message-ID fixed)
    smtp_sender      `SmtpSender`: the one SMTP client (TLS, AUTH, XOAUTH2 with one renewal)
    pop_poller       `PopPoller`: one per POP setting; poll, store in the spool, record, DELE
    print_worker     `PrintWorker`: one per POP setting; prints the spool, oldest first
    spool            `ReceiveSpool`: received messages in NVRAM until printed (fax memory)
    session_token    `SessionToken`: take a store's token; after a refusal, renew it once
    ledger           `ReceiveLedger`: UIDLs and Message-IDs already handled, in NVRAM
    errors           the exception tree: stage, temporary or not, the server's own words
"""
