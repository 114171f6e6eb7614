-- Unfinished claims have no email behind them (or one whose outcome is unknown): drop them.
DELETE FROM email_deliveries WHERE state <> 'sent';
UPDATE email_deliveries SET message_id = '' WHERE message_id IS NULL;
ALTER TABLE email_deliveries
    DROP COLUMN state,
    DROP COLUMN claimed_until,
    DROP COLUMN claim_token,
    ALTER COLUMN message_id SET NOT NULL,
    ALTER COLUMN sent_at SET DEFAULT now(),
    ALTER COLUMN sent_at SET NOT NULL;
