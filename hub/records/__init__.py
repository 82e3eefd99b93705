"""Records: for now the audit trail (``record_event``); patients, reports and the shared record come later."""
