//! Floats as Erlang writes them (`io_lib_format:fwrite_g/1`, OTP 25): the shortest digits that
//! read back to the same double, in plain notation unless scientific notation is shorter or the
//! magnitude reaches 2^53. `1.0e20`, `123456789.0`, `1.5e-7`, `0.001`, `9.007199254740992e15`.

/// 2^53: from here on Erlang always uses scientific notation.
const PLAIN_NOTATION_LIMIT: f64 = 9_007_199_254_740_992.0;

/// `value` as Erlang's `io_lib:write/1` prints it. Erlang has no NaN or infinities; Warren
/// prints them as `nan`, `inf` and `-inf`.
pub(crate) fn erlang_float(value: f64) -> String {
    if value.is_nan() {
        return "nan".to_owned();
    }
    if value.is_infinite() {
        return if value < 0.0 { "-inf" } else { "inf" }.to_owned();
    }
    let sign = if value.is_sign_negative() { "-" } else { "" };
    if value == 0.0 {
        return format!("{sign}0.0");
    }
    // Rust's `{:e}` gives the shortest round-trip digits, as Ryu does: "d.ddde±x".
    let scientific = format!("{:e}", value.abs());
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("LowerExp output has an exponent");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exponent: i64 = exponent.parse().expect("LowerExp exponent is an integer");
    let length = digits.len() as i64;
    let place = exponent - (length - 1);
    format!("{sign}{}", insert_decimal(place, &digits, value.abs()))
}

/// `io_lib_format:insert_decimal/3`: `digits` × 10^`place` in plain or scientific notation.
fn insert_decimal(place: i64, digits: &str, magnitude: f64) -> String {
    let length = digits.len() as i64;
    let exponent = place + length - 1;
    let exponent_text = exponent.to_string();
    let exponent_cost = exponent_text.len() as i64 + 2;
    if place < 0 {
        if exponent >= 0 {
            let (whole, fraction) = digits.split_at((length + place) as usize);
            format!("{whole}.{fraction}")
        } else if 2 - place - length <= exponent_cost {
            format!("0.{}{digits}", "0".repeat((-place - length) as usize))
        } else {
            insert_exponent(&exponent_text, digits)
        }
    } else {
        let dot = i64::from(length == 1);
        if exponent_cost + dot >= place + 2 && magnitude < PLAIN_NOTATION_LIMIT {
            format!("{digits}{}.0", "0".repeat(place as usize))
        } else {
            insert_exponent(&exponent_text, digits)
        }
    }
}

fn insert_exponent(exponent_text: &str, digits: &str) -> String {
    let (first, rest) = digits.split_at(1);
    if rest.is_empty() {
        format!("{first}.0e{exponent_text}")
    } else {
        format!("{first}.{rest}e{exponent_text}")
    }
}

#[cfg(test)]
mod tests {
    use super::erlang_float;

    #[test]
    fn floats_print_as_captured_from_rabbitmq() {
        // Every pair was rendered by RabbitMQ 3.10.8 / OTP 25 (see the json-args and policy
        // error fixtures).
        let cases = [
            (1.5, "1.5"),
            (1e20, "1.0e20"),
            (0.1, "0.1"),
            (1.5e-7, "1.5e-7"),
            (123456789.0, "123456789.0"),
            (9007199254740992.0, "9.007199254740992e15"),
            (-0.0, "-0.0"),
            (3.0, "3.0"),
            (1e16, "1.0e16"),
            (0.001, "0.001"),
            (f64::from(1.1f32), "1.100000023841858"),
            (2.12345, "2.12345"),
            (2.0, "2.0"),
        ];
        for (value, text) in cases {
            assert_eq!(erlang_float(value), text, "{value:e}");
        }
    }

    #[test]
    fn plain_notation_is_kept_while_it_is_not_longer() {
        assert_eq!(erlang_float(100.0), "100.0");
        assert_eq!(erlang_float(1000.0), "1.0e3");
        assert_eq!(erlang_float(2000.0), "2.0e3");
        assert_eq!(erlang_float(1234.0), "1234.0");
        assert_eq!(erlang_float(0.0001), "1.0e-4");
        assert_eq!(erlang_float(-12.5), "-12.5");
        assert_eq!(erlang_float(0.0), "0.0");
    }
}
