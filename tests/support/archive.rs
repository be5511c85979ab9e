//! Real archives for download tests: a tar.gz or zip holding the binary where
//! cosmovisor expects it, and hostile ones whose entries try to escape the
//! directory they are unpacked into.

use std::io::Write;

use sha2::{Digest, Sha256};

/// `sha256:<hex>` of `bytes`, as a plan URL's `?checksum=` wants it.
pub fn sha256_checksum(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A tar.gz with `entries` (path inside the archive, content, mode).
pub fn tar_gz(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(encoder);
    for (path, content, mode) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(*mode);
        header.set_entry_type(tar::EntryType::Regular);
        // set_path refuses `..`; write the raw name so hostile paths stay hostile.
        let name = path.as_bytes();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_cksum();
        builder
            .append(&header, *content)
            .expect("append a tar entry");
    }
    builder
        .into_inner()
        .expect("finish the tar")
        .finish()
        .expect("finish the gzip stream")
}

/// A zip with `entries` (path inside the archive, content, unix mode).
pub fn zip(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (path, content, mode) in entries {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(*mode);
        writer
            .start_file(*path, options)
            .expect("start a zip entry");
        writer.write_all(content).expect("write a zip entry");
    }
    writer.finish().expect("finish the zip").into_inner()
}
