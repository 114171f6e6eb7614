-- An email is claimed before it is sent and marked sent after, in two short transactions,
-- instead of holding one transaction (and a database connection) open across the SMTP
-- dialogue. A claim is a lease: if its worker dies mid-send, another attempt may take it over
-- once `claimed_until` has passed (and would send the same Message-ID again: the unavoidable
-- SMTP window). Rows already here were sent.
ALTER TABLE email_deliveries
    ADD COLUMN state TEXT NOT NULL DEFAULT 'sent' CHECK (state IN ('sending', 'sent')),
    ADD COLUMN claimed_until TIMESTAMPTZ,
    ADD COLUMN claim_token UUID,
    ALTER COLUMN message_id DROP NOT NULL,
    ALTER COLUMN sent_at DROP NOT NULL,
    ALTER COLUMN sent_at DROP DEFAULT;
ALTER TABLE email_deliveries ALTER COLUMN state DROP DEFAULT;
