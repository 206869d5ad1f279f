//! Checks of every server of every zone: SOA serial over UDP and TCP, authority, signature age;
//! and the DS records to give the registrar (the primary's CDS).
