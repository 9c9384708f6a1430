-- A stored event moves its channel's head up to its seq (never back). The log
-- writer stores appends to channels whose heads it knows as one statement
-- with no transaction around it: the statement's own transaction then moves
-- the heads with the events. Writers that move the head first
-- (`events::next_seq`, a group that read its heads) find it there already.
CREATE TRIGGER events_move_head AFTER INSERT ON events
BEGIN
    UPDATE channel_heads SET last_seq = NEW.seq
    WHERE channel = NEW.channel AND last_seq < NEW.seq;
END;
