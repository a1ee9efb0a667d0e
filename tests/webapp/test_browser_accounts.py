"""A real browser against the app as the instances run it (gunicorn, production
settings): headless Chromium signs up, signs out, signs in, edits its own record and is
refused on someone else's; on a 390 px wide screen, with no CSP violation on any page.

Chromium and chromedriver come from Debian (scripts/ensure-chromium installs them);
missing, the test fails unless THREETIER_SKIP_BROWSER=1 says to skip it on purpose.
"""

from __future__ import annotations

import json
import urllib.request

import pytest
from support.chromium import chromium

pytestmark = [pytest.mark.integration, pytest.mark.browser]

PHONE = (390, 844)
PASSWORD = "browser-pass-4821"


@pytest.fixture
def browser():
    with chromium(window=PHONE, browser_log=True) as driver:
        yield driver


def csp_violations(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if "Content Security Policy" in entry["message"]]


def fill(driver, fields: dict[str, str]) -> None:
    from selenium.webdriver.common.by import By

    form = driver.find_element(By.CSS_SELECTOR, "main form")
    for name, value in fields.items():
        element = form.find_element(By.NAME, name)
        element.clear()
        element.send_keys(value)
    form.find_element(By.CSS_SELECTOR, "[type=submit]").click()


def until(driver, condition, timeout: float = 15) -> None:
    """Wait for the page a click started to arrive (a click returns before it does)."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(lambda d: condition(d))


def test_sign_up_sign_in_edit_your_own_record_and_be_refused_on_another(deployed, browser):
    from selenium.webdriver.common.by import By

    url = deployed.url
    request = urllib.request.Request(
        url + "/api/users/", data=json.dumps({"user_id": "bobby", "user_name": "Bob", "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert urllib.request.urlopen(request, timeout=10).status == 201

    # Sign up; a refused field gets its red border and points at its error.
    browser.get(url + "/users/")
    browser.find_element(By.LINK_TEXT, "Sign up").click()
    fill(browser, {"user_id": "bad id!", "user_name": "Chrome", "password": PASSWORD})
    until(browser, lambda d: "has-error" in d.page_source)
    user_id_input = browser.find_element(By.ID, "id_user_id")
    assert user_id_input.value_of_css_property("border-top-color") == "rgba(180, 35, 24, 1)"
    described = user_id_input.get_attribute("aria-describedby")
    assert described and browser.find_element(By.ID, described).text.startswith("Use only letters")
    fill(browser, {"user_id": "chrome", "user_name": "Chrome", "password": PASSWORD})
    until(browser, lambda d: d.current_url == url + "/users/chrome/")
    assert "you are signed in" in browser.page_source

    # Sign out, then sign in again with user_id and password.
    browser.find_element(By.CSS_SELECTOR, "form[action='/accounts/signout/'] button").click()
    until(browser, lambda d: "Sign out" not in d.page_source)
    assert "Sign in" in browser.page_source
    browser.get(url + "/accounts/signin/")
    fill(browser, {"username": "chrome", "password": PASSWORD})
    until(browser, lambda d: "Sign out" in d.page_source)

    # The own record: its edit link is on screen at 390 px, and the edit saves.
    browser.get(url + "/users/")
    edit = browser.find_element(By.CSS_SELECTOR, "a[href='/users/chrome/edit/']")
    right = browser.execute_script("return arguments[0].getBoundingClientRect().right", edit)
    assert right <= browser.execute_script("return document.documentElement.clientWidth")
    assert not browser.find_elements(By.CSS_SELECTOR, "a[href='/users/bobby/edit/']")
    edit.click()
    until(browser, lambda d: d.current_url == url + "/users/chrome/edit/")
    fill(browser, {"user_name": "Chromium", "comment": "edited in a browser"})
    until(browser, lambda d: d.current_url == url + "/users/chrome/")
    assert "Chromium" in browser.page_source and "edited in a browser" in browser.page_source

    # Someone else's record: refused.
    browser.get(url + "/users/bobby/edit/")
    assert "You may change only your own record." in browser.page_source
    assert "Not allowed" in browser.title or "Not allowed" in browser.page_source

    for path in ("/users/", "/users/new/", "/admin/login/", "/users/nobody/"):
        browser.get(url + path)
    assert csp_violations(browser) == []
