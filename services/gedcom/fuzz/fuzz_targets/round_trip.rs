//! Any bytes that parse: writing and re-reading reaches a fixpoint after one pass, in both
//! versions, so nothing the writer emits is read back differently.
#![no_main]

use dzinza_gedcom::{Version, WriteOptions, read_gedcom, write_gedcom};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok((model, _)) = read_gedcom(data) else {
        return;
    };
    for version in [Version::V551, Version::V70] {
        let once = match write_gedcom(&model, Vec::new(), WriteOptions::for_version(version)) {
            // Ids such as `I_18446744073709551615` leave no number to allocate: refused, fine.
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => continue,
            written => written.expect("write to Vec"),
        };
        let (second, _) = read_gedcom(&once[..]).expect("read from slice");
        let twice = write_gedcom(&second, Vec::new(), WriteOptions::for_version(version))
            .expect("write to Vec");
        let (third, _) = read_gedcom(&twice[..]).expect("read from slice");
        assert_eq!(
            second, third,
            "model changed on the second round trip ({version})"
        );
    }
});
