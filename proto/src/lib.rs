//! Generated types and tonic stubs of the `gridwhistle.v1` gRPC API; only transport code depends on this crate.

pub mod codec;

/// The `gridwhistle.v1` package.
pub mod v1 {
    #![allow(clippy::all, clippy::pedantic, missing_docs, unreachable_pub)]
    tonic::include_proto!("gridwhistle.v1");
}

/// The encoded `FileDescriptorSet` of the API, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/gridwhistle_descriptor.bin"));

/// The fully qualified names of the API's services, as reflection lists them.
pub const SERVICE_NAMES: &[&str] = &[
    "gridwhistle.v1.AuthService",
    "gridwhistle.v1.DeviceService",
    "gridwhistle.v1.ReportService",
    "gridwhistle.v1.CaseService",
    "gridwhistle.v1.SupervisionService",
    "gridwhistle.v1.AdminService",
    "gridwhistle.v1.DirectoryService",
    "gridwhistle.v1.AttachmentService",
    "gridwhistle.v1.LedgerService",
    "gridwhistle.v1.AuditService",
];
