use super::*;

fn channel(n: u32) -> ChannelName {
    ChannelName::parse(&format!("user:{n:032x}")).unwrap()
}

fn bounds(head: u64) -> LogBounds {
    LogBounds { head, first_retained: 1, epoch: "e1".into() }
}

fn read(heads: &LogHeads, c: &ChannelName, head: u64) {
    let ticket = heads.ticket(c);
    heads.fill(c, ticket, &bounds(head));
}

#[test]
fn a_read_is_kept_and_writes_move_the_head() {
    let heads = LogHeads::sole_writer();
    let c = channel(1);
    assert_eq!(heads.lookup(&c), None);
    read(&heads, &c, 4);
    assert_eq!(heads.lookup(&c), Some(bounds(4)));
    heads.begin_write(&c, 5, "e1");
    assert_eq!(heads.lookup(&c), None, "a write in flight makes the head unknown");
    heads.end_write(&c, 5);
    assert_eq!(heads.lookup(&c), Some(bounds(5)));
}

#[test]
fn overlapping_writes_are_trusted_only_when_all_ended() {
    let heads = LogHeads::sole_writer();
    let c = channel(1);
    read(&heads, &c, 4);
    heads.begin_write(&c, 5, "e1");
    heads.begin_write(&c, 6, "e1");
    heads.end_write(&c, 6);
    assert_eq!(heads.lookup(&c), None);
    heads.end_write(&c, 5);
    assert_eq!(heads.lookup(&c), Some(bounds(6)));
}

#[test]
fn a_read_that_raced_a_write_merges_its_head() {
    let heads = LogHeads::sole_writer();
    let c = channel(1);
    heads.begin_write(&c, 5, "e1");
    let ticket = heads.ticket(&c);
    heads.end_write(&c, 5);
    // The read ran before the commit and saw 4.
    heads.fill(&c, ticket, &bounds(4));
    assert_eq!(heads.lookup(&c), Some(bounds(5)));
}

#[test]
fn a_log_started_again_is_read_again() {
    let heads = LogHeads::sole_writer();
    let c = channel(1);
    read(&heads, &c, 4);
    heads.begin_write(&c, 1, "e2");
    heads.end_write(&c, 1);
    assert_eq!(heads.lookup(&c), None, "the epoch read is gone");
    let ticket = heads.ticket(&c);
    heads.fill(&c, ticket, &LogBounds { head: 1, first_retained: 1, epoch: "e2".into() });
    assert_eq!(heads.lookup(&c).map(|b| (b.head, b.epoch)), Some((1, "e2".into())));
}

#[test]
fn a_read_from_before_an_invalidation_is_not_kept() {
    let heads = LogHeads::sole_writer();
    let c = channel(1);
    let ticket = heads.ticket(&c);
    heads.forget(ChannelKind::User);
    heads.fill(&c, ticket, &bounds(4));
    assert_eq!(heads.lookup(&c), None);
    read(&heads, &c, 4);
    assert_eq!(heads.lookup(&c), Some(bounds(4)));
}

#[test]
fn forgetting_one_kind_keeps_reads_of_the_others_in_flight() {
    let heads = LogHeads::sole_writer();
    let user = channel(1);
    // The retention run forgets finished sessions while an inbox is read.
    let ticket = heads.ticket(&user);
    heads.forget(ChannelKind::Session);
    heads.fill(&user, ticket, &bounds(4));
    assert_eq!(heads.lookup(&user), Some(bounds(4)));
}

#[test]
fn a_write_ending_without_its_entry_discards_reads_in_flight() {
    let heads = LogHeads::sole_writer();
    let c = channel(1);
    // The entry went (swept) while the write was in flight.
    let ticket = heads.ticket(&c);
    heads.end_write(&c, 5);
    heads.fill(&c, ticket, &bounds(4));
    assert_eq!(heads.lookup(&c), None, "the read may predate the write");
}

#[test]
fn forgetting_a_kind_keeps_the_others() {
    let heads = LogHeads::sole_writer();
    let user = channel(1);
    let session = ChannelName::parse("session:abc").unwrap();
    read(&heads, &user, 1);
    read(&heads, &session, 2);
    heads.forget(ChannelKind::Session);
    assert_eq!(heads.lookup(&session), None);
    assert_eq!(heads.lookup(&user), Some(bounds(1)));
}

#[test]
fn full_means_reading_again_never_forgetting_a_write() {
    let heads = LogHeads::sole_writer();
    let busy = channel(0);
    heads.begin_write(&busy, 3, "e1");
    for n in 1..MAX_CHANNELS as u32 {
        read(&heads, &channel(n), 1);
    }
    assert_eq!(heads.len(), MAX_CHANNELS);
    read(&heads, &channel(MAX_CHANNELS as u32), 1);
    assert_eq!(heads.len(), 2, "the busy entry and the new one");
    assert_eq!(heads.lookup(&channel(1)), None);
    heads.end_write(&busy, 3);
    assert_eq!(heads.lookup(&busy), None, "never read: still unknown");
}

#[test]
fn disabled_knows_nothing() {
    let heads = LogHeads::disabled();
    let c = channel(1);
    read(&heads, &c, 4);
    assert_eq!(heads.lookup(&c), None);
}

#[test]
fn a_write_rolled_back_leaves_the_head_where_it_was() {
    let heads = LogHeads::sole_writer();
    let c = channel(1);
    read(&heads, &c, 4);
    heads.begin_write(&c, 5, "e1");
    heads.begin_write(&c, 5, "e1");
    heads.abandon_write(&c);
    assert_eq!(heads.committed_head(&c), None, "the other write of 5 is still in flight");
    heads.end_write(&c, 5);
    assert_eq!(heads.committed_head(&c), Some(bounds(5)));
    heads.begin_write(&c, 6, "e1");
    heads.abandon_write(&c);
    assert_eq!(heads.lookup(&c), Some(bounds(5)), "trusted again, and not moved");
}

#[test]
fn the_writers_lookups_are_not_counted_as_reads() {
    let heads = LogHeads::sole_writer();
    let c = channel(1);
    read(&heads, &c, 4);
    assert_eq!(heads.committed_head(&c), Some(bounds(4)));
    assert_eq!(heads.committed_head(&channel(2)), None);
    let reads = heads.reads();
    assert_eq!(
        (reads.from_memory.load(Ordering::Relaxed), reads.from_database.load(Ordering::Relaxed)),
        (0, 0)
    );
}

#[test]
fn an_entry_stays_small() {
    // One per channel with a subscriber, for as long as it has one
    // (docs/PERFORMANCE.md, step 26).
    assert!(std::mem::size_of::<Entry>() <= 48, "{} bytes", std::mem::size_of::<Entry>());
}
