//! Frame splitting on arbitrary bytes: whole-buffer and chunked reads must yield the same
//! frames, every frame must re-encode to exactly the bytes it was split from, and nothing may
//! exceed frame_max.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use warren_codec::frame::{split_frame, write_frame, Frame, FrameError, FRAME_OVERHEAD_SIZE};

/// Split everything splittable; the frames and how the stream ended.
fn split_all(chunks: &[&[u8]], frame_max: u32) -> (Vec<Frame>, Option<FrameError>, usize) {
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match split_frame(&mut buf, frame_max) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(e) => return (frames, Some(e), buf.len()),
            }
        }
    }
    (frames, None, buf.len())
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    // Small limits so oversized frames are common; 0 is "no limit".
    let frame_max = [0, 4096, 131_072, 16, 7][usize::from(selector % 5)];
    let cut = if rest.is_empty() {
        0
    } else {
        usize::from(selector) * 7 % rest.len()
    };
    let (whole, whole_err, left) = split_all(&[rest], frame_max);
    let (chunked, chunked_err, _) = split_all(&[&rest[..cut], &rest[cut..]], frame_max);
    assert_eq!(whole, chunked, "chunked reads split differently");
    assert_eq!(whole_err, chunked_err, "chunked reads fail differently");

    let mut encoded = Vec::new();
    for frame in &whole {
        assert!(frame_max == 0 || frame.payload.len() <= frame_max as usize);
        write_frame(&mut encoded, frame.kind, frame.channel, &frame.payload);
    }
    assert_eq!(
        &rest[..encoded.len()],
        &encoded[..],
        "frames re-encode differently"
    );
    match whole_err {
        None => {
            // What is left must be an incomplete frame.
            assert_eq!(encoded.len() + left, rest.len());
            let tail = &rest[encoded.len()..];
            if tail.len() >= 7 {
                let size = u32::from_be_bytes([tail[3], tail[4], tail[5], tail[6]]) as usize;
                assert!(tail.len() < size + FRAME_OVERHEAD_SIZE);
            }
        }
        Some(FrameError::TooLarge { size, .. }) => assert!(size > frame_max && frame_max != 0),
        Some(FrameError::BadFrameEnd { end, .. }) => assert_ne!(end, 0xCE),
    }
});
