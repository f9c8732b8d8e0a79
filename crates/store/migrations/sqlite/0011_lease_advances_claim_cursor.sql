-- A claim of a new range inserts its lease and moves its delivery's claim cursor to the
-- range's end: the insert does both, in one statement. A takeover's lease lies below the
-- cursor and leaves it where it is.
CREATE TRIGGER leases_advance_claim_cursor AFTER INSERT ON leases
BEGIN
    UPDATE deliveries SET claim_cursor = NEW.last_id
    WHERE id = NEW.delivery_id AND claim_cursor < NEW.last_id;
END;
