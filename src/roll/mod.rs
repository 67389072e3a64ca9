//! Rolling an Auto Scaling group onto a new launch template version.
