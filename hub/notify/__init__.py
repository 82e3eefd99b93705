"""Outgoing e-mail and SMS for patients and professionals, and reports to an outside FHIR
platform (the SAS's), through a durable outbox.

- ``models``: the ``OutboundMessage`` table (one row per e-mail, SMS or platform report) and
  ``MessageReceipt`` (a delivery status notification or read receipt of an e-mail);
- ``outbox``: ``enqueue_email``, ``enqueue_sms``, ``enqueue_platform_report`` (or, for several
  messages in one INSERT, ``email_row``/``sms_row`` then ``insert_rows``),
  ``cancel_pending`` and ``deliver_due``
  (the periodic sender, with retries and exponential backoff);
- ``mailer``: ``SmtpSettings``, ``Attachment``, ``build_message`` and ``send_email`` (SMTP
  through :mod:`smtplib` in a worker thread; DSN asked for under an envelope id);
- ``receipts``: ``parse_report``/``record_report`` (RFC 3464 DSN, RFC 8098 MDN matched to the
  outbox e-mail and its recipient, audited; kept aside with the reason when they match none),
  ``receipts_of`` and ``unmatched_reports``;
- ``mailbox``: ``ImapSettings`` and ``read_reports``, the hub's mailbox read over IMAP
  (:mod:`imaplib` in a worker thread);
- ``sms``: the ``SmsGateway`` protocol, ``HttpSmsGateway`` (a JSON webhook) and
  ``normalise_french_mobile``;
- ``platform``: the ``FhirPlatform`` protocol and ``HttpFhirPlatform`` (POST/PUT of a stored
  FHIR resource with a bearer token);
- ``ical``: ``booking_event``, an RFC 5545 invitation or cancellation for a booking;
- ``queries``: the reads of the outbox for the slices that follow their messages up (the SAS
  reports, the report relays), and ``outbox.send_again`` puts a failed one back;
- ``errors``: ``DeliveryError``, raised by the transports.
"""
