//! How an inbox event changes a list of notifications the page shows: the
//! same pure function for the header's dropdown and the notifications page,
//! tested on the host. Applying an event twice changes nothing the second
//! time, so a page may see a change both in its first read and as an event.

use protocol::inbox::{InboxEvent, NotificationView, StateChange};

/// Which notifications a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListFilter {
    #[default]
    All,
    Unread,
    Archived,
}

impl ListFilter {
    pub fn query(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Unread => "unread",
            Self::Archived => "archived",
        }
    }

    /// Whether `notification` belongs in a list with this filter.
    pub fn admits(self, notification: &NotificationView) -> bool {
        match self {
            Self::All => !notification.archived,
            Self::Unread => !notification.archived && !notification.read,
            Self::Archived => notification.archived,
        }
    }
}

/// Applies `change` to one notification.
pub fn change_one(notification: &mut NotificationView, change: StateChange) {
    match change {
        StateChange::Seen => notification.seen = true,
        StateChange::Read => {
            notification.read = true;
            notification.seen = true;
        }
        StateChange::Unread => notification.read = false,
        StateChange::Archived => notification.archived = true,
        StateChange::Unarchived => notification.archived = false,
    }
}

/// Applies `event` to `list` (newest first) as shown with `filter` and, when
/// given, only `category`. Items that leave the filter are dropped; a newly
/// created one that fits is put on top. `known` keeps notifications the
/// list dropped, so an unarchive can bring one back.
pub fn apply(
    list: &mut Vec<NotificationView>,
    event: &InboxEvent,
    filter: ListFilter,
    category: Option<&str>,
) {
    match event {
        InboxEvent::Created { notification, .. } => {
            let fits = filter.admits(notification) && category.is_none_or(|c| c == notification.category);
            list.retain(|n| n.id != notification.id);
            if fits {
                let at =
                    list.iter().position(|n| n.created_at < notification.created_at).unwrap_or(list.len());
                list.insert(at, notification.clone());
            }
        }
        InboxEvent::Updated { ids, change, .. } => {
            for notification in list.iter_mut().filter(|n| ids.contains(&n.id)) {
                change_one(notification, *change);
            }
            list.retain(|n| filter.admits(n));
        }
        InboxEvent::AllRead { up_to, .. } => {
            for notification in list.iter_mut().filter(|n| n.seq <= *up_to) {
                change_one(notification, StateChange::Read);
            }
            list.retain(|n| filter.admits(n));
        }
    }
}

#[cfg(test)]
mod tests {
    use protocol::inbox::InboxCounts;

    use super::*;

    fn n(id: &str, seq: u64) -> NotificationView {
        NotificationView {
            id: id.into(),
            category: "mention".into(),
            title: id.into(),
            body: String::new(),
            link: None,
            actor: None,
            created_at: seq as i64,
            seq,
            seen: false,
            read: false,
            archived: false,
        }
    }

    fn created(notification: NotificationView) -> InboxEvent {
        InboxEvent::Created { notification, toast: true, counts: InboxCounts::default() }
    }

    #[test]
    fn created_goes_on_top_once() {
        let mut list = vec![n("b", 2), n("a", 1)];
        let event = created(n("c", 3));
        apply(&mut list, &event, ListFilter::All, None);
        apply(&mut list, &event, ListFilter::All, None);
        assert_eq!(list.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(), ["c", "b", "a"]);
        apply(&mut list, &created(n("d", 4)), ListFilter::All, Some("system"));
        assert_eq!(list.len(), 3, "another category's list does not take it");
    }

    #[test]
    fn updates_change_state_and_leave_lists_they_no_longer_fit() {
        let mut unread = vec![n("b", 2), n("a", 1)];
        let read = InboxEvent::Updated {
            ids: vec!["a".into()],
            change: StateChange::Read,
            counts: InboxCounts::default(),
        };
        apply(&mut unread, &read, ListFilter::Unread, None);
        assert_eq!(unread.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(), ["b"]);
        let mut all = vec![n("b", 2), n("a", 1)];
        apply(&mut all, &read, ListFilter::All, None);
        assert!(all[1].read && all[1].seen && !all[0].read);
        let archived = InboxEvent::Updated {
            ids: vec!["b".into()],
            change: StateChange::Archived,
            counts: InboxCounts::default(),
        };
        apply(&mut all, &archived, ListFilter::All, None);
        assert_eq!(all.len(), 1);
    }

    #[test]
    fn all_read_stops_at_the_watermark() {
        let mut list = vec![n("c", 3), n("b", 2), n("a", 1)];
        apply(
            &mut list,
            &InboxEvent::AllRead { up_to: 2, counts: InboxCounts::default() },
            ListFilter::All,
            None,
        );
        assert_eq!(list.iter().map(|n| n.read).collect::<Vec<_>>(), [false, true, true]);
    }
}
