//! Real archives for download tests: a tar.gz or zip holding the binary where
//! cosmovisor expects it, and hostile ones whose entries try to escape the
//! directory they are unpacked into.

use std::io::Write;

use sha2::{Digest, Sha256};

/// `sha256:<hex>` of `bytes`, as a plan URL's `?checksum=` wants it.
pub fn sha256_checksum(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A tar.gz with `entries` (path inside the archive, content, mode), at the
/// fastest compression level (unoptimised test code compresses the 9 MB debug
/// binary in about a second).
pub fn tar_gz(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
    tar_gz_at(entries, flate2::Compression::fast())
}

/// A tar.gz whose gzip stream holds stored (uncompressed) deflate blocks, as
/// `compresslevel=0` tools write: valid, and a trap for content sniffing.
pub fn tar_gz_stored(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
    tar_gz_at(entries, flate2::Compression::none())
}

fn tar_gz_at(entries: &[(&str, &[u8], u32)], level: flate2::Compression) -> Vec<u8> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), level);
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

/// A zip with `entries` (path inside the archive, content, unix mode), stored
/// (see [`tar_gz`]) unless `deflate`.
pub fn zip(entries: &[(&str, &[u8], u32)], deflate: bool) -> Vec<u8> {
    let method = if deflate {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (path, content, mode) in entries {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(method)
            .unix_permissions(*mode);
        writer
            .start_file(*path, options)
            .expect("start a zip entry");
        writer.write_all(content).expect("write a zip entry");
    }
    writer.finish().expect("finish the zip").into_inner()
}
