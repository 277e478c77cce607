"""The device's software. Imports hwsim below it; never panel or tools above it.

Map:
    settings, settings_store   frozen validated settings and their NVRAM home
    providers                  OAuth providers as data (microsoft, google, local, from TOML)
    tokens/                    token stores: state machine table + msal device-code flow
    events                     the one event stream
    api                        the one command API (panel, console and web page use it)
    console/                   the console language (key=value lines, then OK / ERR), per connection
    access                     the administrator password guard; which addresses are loopback
    trust                      the device's CA trust store
    mail/                      SMTP sender, send-job queue, connection test, the mail error tree
    receive/                   POP receivers: poller, fax memory (spool), ledger, print worker
    device                     one MFP: wires all of the above together
    errors                     the exception tree
"""
