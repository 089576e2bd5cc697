//! ferrokafka
