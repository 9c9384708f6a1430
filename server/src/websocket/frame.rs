//! One frame's header (RFC 6455, section 5.2): read from a client, which must
//! mask every frame, and written by the server, which must not.

use super::{CloseFrame, WsError};

/// Longest header a frame can have: two bytes, eight of length, four of mask.
pub(super) const MAX_HEADER_BYTES: usize = 14;
/// Control frames (close, ping, pong) carry at most this much (section 5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl Opcode {
    fn from_bits(bits: u8) -> Option<Self> {
        Some(match bits {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            _ => return None,
        })
    }

    fn bits(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xA,
        }
    }

    fn is_control(self) -> bool {
        matches!(self, Self::Close | Self::Ping | Self::Pong)
    }
}

/// A client frame's header, whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ClientHeader {
    pub fin: bool,
    pub opcode: Opcode,
    pub mask: [u8; 4],
    /// Bytes before the payload.
    pub len: usize,
    pub payload_len: usize,
}

/// Reads a client frame's header from the start of `input`: `Ok(None)` while
/// it has not fully arrived. What can be refused is refused as soon as its
/// bytes are here, before waiting for the rest: reserved bits (no extension
/// was agreed), unknown opcodes, unmasked frames, fragmented or long control
/// frames, and data payloads over `max_payload` (what the message has left).
pub(super) fn read_client_header(input: &[u8], max_payload: usize) -> Result<Option<ClientHeader>, WsError> {
    let [first, second, ..] = *input else { return Ok(None) };
    if first & 0x70 != 0 {
        return Err(WsError::Protocol("reserved bits set"));
    }
    let fin = first & 0x80 != 0;
    let opcode = Opcode::from_bits(first & 0x0F).ok_or(WsError::Protocol("unknown opcode"))?;
    if second & 0x80 == 0 {
        return Err(WsError::Protocol("client frame not masked"));
    }
    let short_len = usize::from(second & 0x7F);
    if opcode.is_control() && (!fin || short_len > MAX_CONTROL_PAYLOAD) {
        return Err(WsError::Protocol("control frame fragmented or longer than 125 bytes"));
    }
    let (len_bytes, payload_len) = match short_len {
        126 => {
            let Some(bytes) = input.get(2..4) else { return Ok(None) };
            (2, u64::from(u16::from_be_bytes([bytes[0], bytes[1]])))
        }
        127 => {
            let Some(bytes) = input.get(2..10) else { return Ok(None) };
            let len = u64::from_be_bytes(bytes.try_into().expect("eight bytes"));
            if len >> 63 != 0 {
                return Err(WsError::Protocol("payload length's top bit set"));
            }
            (8, len)
        }
        short => (0, short as u64),
    };
    let payload_len = usize::try_from(payload_len).unwrap_or(usize::MAX);
    // Control frames are held to 125 bytes above, whatever the message's limit.
    if !opcode.is_control() && payload_len > max_payload {
        return Err(WsError::TooBig(max_payload));
    }
    let mask_at = 2 + len_bytes;
    let Some(mask) = input.get(mask_at..mask_at + 4) else { return Ok(None) };
    let mask = [mask[0], mask[1], mask[2], mask[3]];
    Ok(Some(ClientHeader { fin, opcode, mask, len: mask_at + 4, payload_len }))
}

/// Undoes a client's mask on its payload, in place.
pub(super) fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    for (i, byte) in payload.iter_mut().enumerate() {
        *byte ^= mask[i % 4];
    }
}

/// Appends one unfragmented, unmasked server frame to `out`.
pub(super) fn write_frame(out: &mut Vec<u8>, opcode: Opcode, payload: &[u8]) {
    out.reserve(MAX_HEADER_BYTES + payload.len());
    out.push(0x80 | opcode.bits());
    match payload.len() {
        len @ 0..=125 => out.push(len as u8),
        len @ 126..=0xFFFF => {
            out.push(126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
}

/// Appends a close frame with `code` and as much of `reason` as fits.
pub(super) fn write_close(out: &mut Vec<u8>, code: u16, reason: &str) {
    let mut end = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = [0u8; MAX_CONTROL_PAYLOAD];
    payload[..2].copy_from_slice(&code.to_be_bytes());
    payload[2..2 + end].copy_from_slice(&reason.as_bytes()[..end]);
    write_frame(out, Opcode::Close, &payload[..2 + end]);
}

/// A client's close payload (already unmasked): none, or a code a peer may
/// send (section 7.4) and a UTF-8 reason.
pub(super) fn read_close(payload: &[u8]) -> Result<Option<CloseFrame>, WsError> {
    let (code, reason) = match payload {
        [] => return Ok(None),
        [_] => return Err(WsError::Protocol("close payload of one byte")),
        [high, low, reason @ ..] => (u16::from_be_bytes([*high, *low]), reason),
    };
    let sendable = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
    if !sendable {
        return Err(WsError::Protocol("close code a peer may not send"));
    }
    let reason = std::str::from_utf8(reason).map_err(|_| WsError::InvalidUtf8)?;
    Ok(Some(CloseFrame { code, reason: reason.to_owned() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame as a browser would send it.
    fn masked(first: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let mut out = Vec::new();
        write_frame(&mut out, Opcode::Text, payload);
        out[0] = first;
        out[1] |= 0x80;
        let at = out.len() - payload.len();
        out.splice(at..at, mask);
        unmask(&mut out[at + 4..], mask);
        out
    }

    #[test]
    fn a_masked_text_frame_reads_back() {
        let mask = [1, 2, 3, 4];
        for len in [0usize, 5, 125, 126, 300, 0xFFFF, 0x1_0000] {
            let payload = vec![b'a'; len];
            let mut bytes = masked(0x81, &payload, mask);
            let header = read_client_header(&bytes, 1 << 20).unwrap().expect("whole header");
            assert_eq!((header.fin, header.opcode, header.mask), (true, Opcode::Text, mask));
            assert_eq!(header.payload_len, len);
            assert_eq!(header.len + len, bytes.len());
            unmask(&mut bytes[header.len..], header.mask);
            assert_eq!(&bytes[header.len..], payload.as_slice());
        }
    }

    #[test]
    fn a_header_not_yet_whole_waits() {
        let bytes = masked(0x81, &[b'x'; 300], [9, 9, 9, 9]);
        for cut in 0..8 {
            assert_eq!(read_client_header(&bytes[..cut], 1 << 20).unwrap(), None, "cut at {cut}");
        }
        assert!(read_client_header(&bytes[..8], 1 << 20).unwrap().is_some());
    }

    #[test]
    fn what_a_client_may_not_send_is_refused() {
        let mask = [0; 4];
        let refused = |bytes: &[u8]| matches!(read_client_header(bytes, 1000), Err(WsError::Protocol(_)));
        assert!(refused(&masked(0xC1, b"x", mask)), "reserved bit");
        assert!(refused(&masked(0x83, b"x", mask)), "unknown opcode");
        assert!(refused(&masked(0x09, b"x", mask)), "fragmented ping");
        assert!(refused(&masked(0x89, &[0; 126], mask)), "long ping");
        let mut unmasked = Vec::new();
        write_frame(&mut unmasked, Opcode::Text, b"x");
        assert!(refused(&unmasked), "unmasked");
        assert!(matches!(
            read_client_header(&masked(0x81, &[0; 1001], mask), 1000),
            Err(WsError::TooBig(1000))
        ));
        // The length alone is enough to refuse: the payload need not arrive.
        assert!(matches!(
            read_client_header(&masked(0x81, &[0; 1001], mask)[..4], 1000),
            Err(WsError::TooBig(_))
        ));
    }

    #[test]
    fn server_frames_are_unmasked_with_the_shortest_length() {
        let mut out = Vec::new();
        write_frame(&mut out, Opcode::Text, b"hi");
        assert_eq!(out, [0x81, 2, b'h', b'i']);
        out.clear();
        write_frame(&mut out, Opcode::Text, &[0; 200]);
        assert_eq!(&out[..4], [0x81, 126, 0, 200]);
        out.clear();
        write_frame(&mut out, Opcode::Text, &[0; 70_000]);
        assert_eq!(&out[..10], [0x81, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
    }

    #[test]
    fn a_close_keeps_its_code_and_a_reason_that_fits() {
        let mut out = Vec::new();
        write_close(&mut out, 4105, &"é".repeat(100));
        assert_eq!(out[0], 0x88);
        let len = usize::from(out[1]);
        assert!(len <= 125, "{len}");
        let read = read_close(&out[2..]).unwrap().unwrap();
        assert_eq!(read.code, 4105);
        assert_eq!(read.reason, "é".repeat(61));
        assert_eq!(read_close(&[]).unwrap(), None);
        assert!(read_close(&[0x03]).is_err());
        for never_sent in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
            assert!(read_close(&never_sent.to_be_bytes()).is_err(), "{never_sent}");
        }
        for sendable in [1000u16, 1001, 1003, 1007, 1011, 1014, 3000, 4999] {
            assert_eq!(read_close(&sendable.to_be_bytes()).unwrap().unwrap().code, sendable);
        }
        assert!(matches!(read_close(&[0x03, 0xE8, 0xFF]), Err(WsError::InvalidUtf8)));
    }
}
