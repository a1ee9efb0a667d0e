"""HTML forms: they only parse the request; the services check every rule and their
messages are put next to these fields (errors.add_to_form). The widgets' maxlength
and required attributes just spare browser users a round trip."""

from __future__ import annotations

from django import forms

from threetier.webapp.users import rules


def _text(max_length: int, *, required: bool = True) -> forms.TextInput:
    attrs: dict[str, object] = {"maxlength": max_length, "autocomplete": "off"}
    if required:
        attrs["required"] = True
    return forms.TextInput(attrs=attrs)


class UserCreateForm(forms.Form):
    user_id = forms.CharField(
        label="User ID", required=False, widget=_text(rules.USER_ID_MAX_LENGTH)
    )
    user_name = forms.CharField(
        label="User name", required=False, widget=_text(rules.USER_NAME_MAX_LENGTH)
    )
    # render_value=False: a password is never sent back to the browser, even after an error.
    password = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        help_text=f"At least {rules.PASSWORD_MIN_LENGTH} characters.",
        widget=forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "new-password", "required": True}
        ),
    )
    comment = forms.CharField(
        label="Comment", required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    attachment = forms.FileField(
        label="Attachment",
        required=False,
        help_text=f"Optional, at most {rules.ATTACHMENT_MAX_BYTES // (1024 * 1024)} MB.",
    )


class UserEditForm(forms.Form):
    user_name = forms.CharField(
        label="User name", required=False, widget=_text(rules.USER_NAME_MAX_LENGTH)
    )
    password = forms.CharField(
        label="New password",
        required=False,
        strip=False,
        help_text="Leave empty to keep the current password.",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    comment = forms.CharField(
        label="Comment", required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    attachment = forms.FileField(
        label="Replace attachment",
        required=False,
        help_text=f"Optional, at most {rules.ATTACHMENT_MAX_BYTES // (1024 * 1024)} MB.",
    )
    remove_attachment = forms.BooleanField(label="Remove the current attachment", required=False)
