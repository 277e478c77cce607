"""Receiving: Internet Fax receive and E-mail Print over POP3, into a fax memory, then printed.

Map (imports point down the list; docs/mail.md tells the design, docs/reliability.md what is
promised):
    unit          `ReceptionUnit`: one per POP setting, the parts below as the device wires them
    poller        `PopPoller`: the schedule on the device clock, one poll at a time, alerts
    drain         `Drain`: one poll's transaction phase (spool, ledger, DELE, batch by batch)
    signin        `Mailbox`: connect, TLS, sign in (USER/PASS, XOAUTH2 with one renewal)
    print_worker  `PrintWorker`: prints the spool, oldest first; `Reception`, `Ticket`
    printing      one message into the tray (Internet Fax pages, E-mail Print documents)
    spool         `ReceiveSpool`: received messages in NVRAM until printed (fax memory)
    spool_format  the spool's batch files and marks, byte by byte
    ledger        `ReceiveLedger`: UIDLs and Message-IDs already handled, in NVRAM
    headers       From, Subject, Message-ID of a received message, without a parser
    results       `PollResult`, `PrintResult`
    errors        the device's side of the receive error tree (the tree is drawn there)
"""
