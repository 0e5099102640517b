//! Stable patient identities: the same name or the same (seed, index) always
//! yields the same UUID, so a restarted emulator pod is the same patient.

use uuid::Uuid;

/// The project's UUIDv5 namespace (a random v4, fixed forever).
const NAMESPACE: Uuid = Uuid::from_u128(0x6f0c_1d2e_8a4b_4c3d_9e5f_7a1b_2c3d_4e5f);

/// A patient named on the command line (`--name`, `PATIENT_NAME`, or a pod name).
pub fn patient_uuid_from_name(name: &str) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("name:{name}").as_bytes())
}

/// Patient `index` of a ward emulated with `--patients N --seed seed`.
pub fn patient_uuid_from_seed(seed: u64, index: u64) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("seed:{seed}/patient:{index}").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_input_same_uuid_and_different_inputs_differ() {
        assert_eq!(patient_uuid_from_name("icu-patient-0"), patient_uuid_from_name("icu-patient-0"));
        assert_ne!(patient_uuid_from_name("icu-patient-0"), patient_uuid_from_name("icu-patient-1"));
        assert_eq!(patient_uuid_from_seed(7, 3), patient_uuid_from_seed(7, 3));
        assert_ne!(patient_uuid_from_seed(7, 3), patient_uuid_from_seed(8, 3));
        assert_ne!(patient_uuid_from_seed(7, 3), patient_uuid_from_seed(7, 4));
        assert_eq!(patient_uuid_from_seed(1, 1).get_version_num(), 5);
    }
}
