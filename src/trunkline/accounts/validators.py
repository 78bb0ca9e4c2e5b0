"""The guide's password rule: at least 10 characters, an uppercase letter and a digit."""

from django.core.exceptions import ValidationError


class PartnerPasswordValidator:
    min_length = 10

    def validate(self, password: str, user=None) -> None:
        problems = []
        if len(password) < self.min_length:
            problems.append(f"at least {self.min_length} characters")
        if not any(char.isupper() for char in password):
            problems.append("an uppercase letter")
        if not any(char.isdigit() for char in password):
            problems.append("a digit")
        if problems:
            raise ValidationError(
                "The password needs " + ", ".join(problems) + ".", code="password_rule"
            )

    def get_help_text(self) -> str:
        return "At least 10 characters, with an uppercase letter and a digit."
