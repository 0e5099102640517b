//! Stable patient identities: the same name, the same (seed, index) or the
//! same (StatefulSet, bed, seed) always yields the same patient, so a
//! restarted or rescheduled emulator pod is the same patient.

use uuid::Uuid;

/// The project's UUIDv5 namespace (a random v4, fixed forever).
const NAMESPACE: Uuid = Uuid::from_u128(0x6f0c_1d2e_8a4b_4c3d_9e5f_7a1b_2c3d_4e5f);

/// Given and family names of emulated patients (16 × 16 combinations).
pub const GIVEN_NAMES: [&str; 16] = [
    "Ada", "Ben", "Chloe", "Dmitri", "Elif", "Farah", "Goran", "Hana", "Ines", "Jonas", "Kofi", "Lena", "Mateo",
    "Nadia", "Oskar", "Priya",
];
pub const FAMILY_NAMES: [&str; 16] = [
    "Andersen", "Bauer", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Horvat", "Ivanova", "Jansen", "Kowalski",
    "Larsen", "Moreau", "Novak", "Okafor", "Petrov",
];

/// A patient named on the command line (`--name`, `PATIENT_NAME`).
pub fn patient_uuid_from_name(name: &str) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("name:{name}").as_bytes())
}

/// Patient `index` of a ward emulated with `--patients N --seed seed`.
pub fn patient_uuid_from_seed(seed: u64, index: u64) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("seed:{seed}/patient:{index}").as_bytes())
}

/// Who lies in one bed of a StatefulSet-emulated ward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BedIdentity {
    pub uuid: Uuid,
    pub name: String,
    /// The bed's label on the ward: its number, as `kubectl get pods` shows the ordinal.
    pub bed: String,
}

/// The patient in bed `bed` of StatefulSet `statefulset` for a `seed`: a
/// function of those three only, so pod `icu-patients-7` is the same patient
/// on every restart, on any node, and whatever the ward's size.
pub fn bed_identity(statefulset: &str, bed: u64, seed: u64) -> BedIdentity {
    let uuid = Uuid::new_v5(&NAMESPACE, format!("statefulset:{statefulset}/seed:{seed}/bed:{bed}").as_bytes());
    // The name is drawn from the UUID's bytes, which already mix all three inputs.
    let bytes = uuid.as_bytes();
    let name = format!(
        "{} {}",
        GIVEN_NAMES[usize::from(bytes[0]) % GIVEN_NAMES.len()],
        FAMILY_NAMES[usize::from(bytes[1]) % FAMILY_NAMES.len()]
    );
    BedIdentity { uuid, name, bed: format!("{bed:02}") }
}

/// A StatefulSet pod's name split into the set's name and the pod's ordinal
/// (`icu-patients-7` → `("icu-patients", 7)`); `None` for any other name.
pub fn statefulset_ordinal(pod_name: &str) -> Option<(&str, u64)> {
    let (set, ordinal) = pod_name.rsplit_once('-')?;
    // Kubernetes writes ordinals in plain decimal: "07" or "+7" is not one.
    let plain = !ordinal.is_empty()
        && ordinal.bytes().all(|b| b.is_ascii_digit())
        && (ordinal == "0" || !ordinal.starts_with('0'));
    if set.is_empty() || !plain {
        return None;
    }
    Some((set, ordinal.parse().ok()?))
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

    #[test]
    fn a_bed_is_the_same_patient_for_the_same_set_bed_and_seed_only() {
        let bed = bed_identity("icu-patients", 7, 1);
        assert_eq!(bed, bed_identity("icu-patients", 7, 1));
        assert_eq!(bed.bed, "07");
        assert_eq!(bed.uuid.get_version_num(), 5);
        for other in
            [bed_identity("icu-patients", 8, 1), bed_identity("icu-patients", 7, 2), bed_identity("ward-b", 7, 1)]
        {
            assert_ne!(other.uuid, bed.uuid);
        }
        let uuids: std::collections::HashSet<_> = (0..1000).map(|b| bed_identity("icu-patients", b, 1).uuid).collect();
        assert_eq!(uuids.len(), 1000);
        let names: std::collections::HashSet<_> = (0..1000).map(|b| bed_identity("icu-patients", b, 1).name).collect();
        assert!(names.len() > 100, "names should vary: {}", names.len());
    }

    #[test]
    fn only_statefulset_pod_names_have_an_ordinal() {
        assert_eq!(statefulset_ordinal("icu-patients-7"), Some(("icu-patients", 7)));
        assert_eq!(statefulset_ordinal("icu-patients-0"), Some(("icu-patients", 0)));
        assert_eq!(statefulset_ordinal("a-123"), Some(("a", 123)));
        for name in
            ["icu-patients", "icu-patients-", "-7", "icu-patients-07", "icu-patients-x7", "web-5d8f9c-abcde", ""]
        {
            assert_eq!(statefulset_ordinal(name), None, "{name}");
        }
        assert_eq!(statefulset_ordinal("icu-patients-99999999999999999999999"), None);
    }
}
