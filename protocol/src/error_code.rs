//! placeholder
pub struct ErrorCode; pub struct ErrorClass;
