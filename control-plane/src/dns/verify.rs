//! Ownership verification and the registrar checklist, through the resolvers that stand for the
//! world (`[dns] resolvers`).
